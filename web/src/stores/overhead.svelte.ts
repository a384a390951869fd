/**
 * The overhead meter: the chosen I/O's real PDUs broken down by layer, the model over sizes and MTUs, and a
 * measured CPU cost per I/O (GET /api/cpu around a batch of reads through POST /api/io).
 */
import type { CpuSample } from '../../../shared/api/cpu.ts';
import { postIo } from '../lib/api.ts';
import { breakdownOf, mssFor, type Breakdown } from '../lib/overhead.ts';
import { lab, type TaskInfo } from './lab.svelte.ts';
import { ui } from './ui.svelte.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

const DATA_OPS = /^(READ|WRITE)\((6|10|12|16)\)$/;
/** Reads per CPU measurement: enough to rise above the timer's resolution, few enough for a busy machine. */
export const CPU_BATCH = 20;

async function cpu(): Promise<CpuSample> {
  const r = await fetch('/api/cpu');
  if (!r.ok) throw new Error(`GET /api/cpu answered ${r.status}`);
  return (await r.json()) as CpuSample;
}

export class OverheadView {
  mtu = $state(1500);
  chartOp = $state<'read' | 'write'>('read');
  /** null: the selected PDU's task if it moves data, else the newest READ/WRITE. */
  taskId = $state<number | null>(null);
  cpuPerIoUs = $state<number | null>(null);
  cpuBytes = $state(0);
  cpuBusy = $state(false);
  cpuError = $state<string | null>(null);

  readonly task: TaskInfo | undefined = $derived.by(() => {
    void lab.pdus;
    if (this.taskId !== null) return lab.tasks.get(this.taskId);
    const sel = ui.selectedTaskId;
    const t = sel === undefined ? undefined : lab.tasks.get(sel);
    if (t?.scsi && DATA_OPS.test(t.scsi.opcodeName)) return t;
    const pdus = lab.pdus;
    for (let i = pdus.length - 1; i >= 0; i--) {
      const p = pdus[i]!;
      if (p.opcode === IscsiOpcode.ScsiCommand && p.taskId !== undefined && p.scsi && DATA_OPS.test(p.scsi.opcodeName)) return lab.tasks.get(p.taskId);
    }
    return undefined;
  });

  readonly real: Breakdown | undefined = $derived(this.task ? breakdownOf(this.task.pdus, mssFor(this.mtu)) : undefined);

  /** Runs CPU_BATCH reads of `blocks` at `lba` and divides the process's CPU time by their number. */
  async measureCpu(lun: number, lba: number, blocks: number, blockSize: number): Promise<void> {
    this.cpuBusy = true;
    this.cpuError = null;
    try {
      const before = await cpu();
      for (let i = 0; i < CPU_BATCH; i++) {
        const r = await postIo({ lun, op: 'read', lba, blocks });
        if (!r.ok) throw new Error(`READ answered ${r.statusText}`);
      }
      const after = await cpu();
      this.cpuPerIoUs = (after.userUs + after.systemUs - before.userUs - before.systemUs) / CPU_BATCH;
      this.cpuBytes = blocks * blockSize;
    } catch (err) {
      this.cpuError = err instanceof Error ? err.message : String(err);
    } finally {
      this.cpuBusy = false;
    }
  }
}

export const overhead = new OverheadView();
