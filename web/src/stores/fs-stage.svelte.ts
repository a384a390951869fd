/**
 * The file-system stage view: write a small file into the ext2 volume the gateway keeps on the LUN (server/fs-stage)
 * and see which LBAs it became (file data vs inode table, bitmaps, superblock, directory); a click shows that I/O
 * in the timeline.
 */
import type { FsStatus, FsWrite, FsWriteResult } from '../../../shared/api/fs.ts';
import { lab } from './lab.svelte.ts';
import { timeline } from './timeline.svelte.ts';
import { ui } from './ui.svelte.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

async function post<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = (await r.json().catch(() => ({}))) as { error?: string };
  if (!r.ok) throw new Error(j.error ?? `${path} answered ${r.status}`);
  return j as T;
}

export class FsStageView {
  lun = $state(0);
  name = $state('hello.txt');
  text = $state('Hello from the file-system stage of the iSCSI Lab.');
  busy = $state(false);
  error = $state<string | null>(null);
  status = $state.raw<FsStatus | null>(null);
  /** Files written from this page, newest first. */
  results = $state.raw<FsWriteResult[]>([]);

  async refresh(): Promise<void> {
    try {
      const r = await fetch(`/api/fs?lun=${this.lun}`);
      if (r.ok) this.status = (await r.json()) as FsStatus;
    } catch {
      // an older gateway: the panel still offers Write
    }
  }

  async writeFile(): Promise<void> {
    await this.act(async () => {
      const r = await post<FsWriteResult>('/api/fs/write', { lun: this.lun, name: this.name, text: this.text });
      this.results = [r, ...this.results];
      // The next file gets a fresh name: the stage refuses to overwrite.
      const m = /^(.*?)(\d*)(\.[^.]*)?$/.exec(this.name);
      if (m) this.name = `${m[1]}${Number(m[2] || '1') + 1}${m[3] ?? ''}`;
    });
  }

  async format(): Promise<void> {
    await this.act(async () => {
      await post('/api/fs/format', { lun: this.lun });
      this.results = [];
    });
  }

  /** Shows one write in the timeline: the LBA filter on it, and its SCSI Command selected. */
  show(w: FsWrite): void {
    timeline.filters = { ...timeline.filters, lba: String(w.lba), lun: String(this.lun) };
    timeline.recompute();
    const pdus = lab.pdus;
    for (let i = pdus.length - 1; i >= 0; i--) {
      const p = pdus[i]!;
      if (p.opcode === IscsiOpcode.ScsiCommand && p.scsi?.lba === w.lba && p.scsi.opcodeName.startsWith('WRITE')) {
        ui.select(p.seq);
        return;
      }
    }
  }

  private async act(fn: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.error = null;
    try {
      await fn();
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.busy = false;
      await this.refresh();
    }
  }
}

export const fsStage = new FsStageView();
