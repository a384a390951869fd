/** The encapsulation stepper: which task it walks, the stages built from the trace, and the current stage. */
import { buildStages, type Stage } from '../lib/layers.ts';
import { lab, type TaskInfo } from './lab.svelte.ts';
import { ui } from './ui.svelte.ts';
import { IscsiOpcode } from '../../../shared/protocol/iscsi-opcodes.ts';

export class Stepper {
  index = $state(0);

  readonly task: TaskInfo | undefined = $derived(ui.stepTask);

  readonly stages: Stage[] = $derived.by(() => {
    const t = this.task;
    void lab.rawTick;
    void lab.storeEvents;
    if (!t?.scsi) return [];
    const lun = lab.status?.luns.find((l) => l.lun === (t.scsi?.lun ?? 0));
    return buildStages({
      pdus: t.pdus,
      taskId: t.id,
      scsi: t.scsi,
      blockSize: lun?.blockSize ?? 512,
      raw: (seq) => lab.rawFor(seq)?.bytes,
      storeEvents: lab.storeEvents,
    });
  });

  /** Recent SCSI commands that move data (the ones worth stepping through), newest first. */
  get recentIo(): TaskInfo[] {
    const out: TaskInfo[] = [];
    const pdus = lab.pdus;
    for (let i = pdus.length - 1; i >= 0 && out.length < 40; i--) {
      const p = pdus[i]!;
      if (p.opcode !== IscsiOpcode.ScsiCommand || p.taskId === undefined || p.scsi?.lba === undefined) continue;
      const t = lab.tasks.get(p.taskId);
      if (t) out.push(t);
    }
    return out;
  }

  /** The latest data-moving command, for "step last". */
  latest(): TaskInfo | undefined {
    return this.recentIo[0];
  }

  go(i: number): void {
    this.index = Math.max(0, Math.min(this.stages.length - 1, i));
  }
}

export const stepper = new Stepper();
