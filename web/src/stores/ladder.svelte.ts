/** The ladder view's choices: which task or connection it draws, and how time runs down the page. */
import { ladderRow, MAX_LADDER_ROWS, type LadderRow } from '../lib/ladder.ts';
import { lab } from './lab.svelte.ts';
import { ui } from './ui.svelte.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

export class LadderView {
  scope = $state<'task' | 'connection'>('task');
  spacing = $state<'uniform' | 'time'>('uniform');
  /** The task drawn; null: the selected PDU's task, else the newest SCSI task. */
  taskId = $state<number | null>(null);

  readonly currentTaskId: number | undefined = $derived.by(() => {
    if (this.taskId !== null) return this.taskId;
    const sel = ui.selectedTaskId;
    if (sel !== undefined) return sel;
    const pdus = lab.pdus;
    for (let i = pdus.length - 1; i >= 0; i--) if (pdus[i]!.opcode === IscsiOpcode.ScsiCommand && pdus[i]!.taskId !== undefined) return pdus[i]!.taskId;
    return undefined;
  });

  readonly rows: LadderRow[] = $derived.by(() => {
    void lab.pdus;
    const id = this.currentTaskId;
    const task = id === undefined ? undefined : lab.tasks.get(id);
    if (!task) return [];
    if (this.scope === 'task') return task.pdus.map(ladderRow);
    const conn = task.connectionId;
    const out = [];
    const pdus = lab.pdus;
    for (let i = pdus.length - 1; i >= 0 && out.length < MAX_LADDER_ROWS; i--) if (pdus[i]!.connectionId === conn) out.push(pdus[i]!);
    return out.reverse().map(ladderRow);
  });

  /** Recent SCSI tasks to pick from, newest first. */
  get recent(): { id: number; label: string }[] {
    const out: { id: number; label: string }[] = [];
    const pdus = lab.pdus;
    for (let i = pdus.length - 1; i >= 0 && out.length < 50; i--) {
      const p = pdus[i]!;
      if (p.opcode !== IscsiOpcode.ScsiCommand || p.taskId === undefined || !p.scsi) continue;
      out.push({ id: p.taskId, label: `#${p.taskId} ${p.scsi.opcodeName}${p.scsi.lba !== undefined ? ` LBA ${p.scsi.lba} ×${p.scsi.blocks ?? 0}` : ''}` });
    }
    return out;
  }
}

export const ladder = new LadderView();
