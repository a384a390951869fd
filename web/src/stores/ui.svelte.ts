/** What the user is looking at: the active tab, the selected PDU and task, projector mode (persisted). */
import { lab, type TaskInfo } from './lab.svelte.ts';
import type { PduTraceEvent } from '../../../shared/trace/schema.ts';

export type Tab = 'inspector' | 'stepper' | 'composer' | 'console' | 'capture' | 'cache' | 'lessons' | 'ladder' | 'waterfall' | 'overhead' | 'fs' | 'faults';
export const TABS: readonly { id: Tab; label: string; key: string }[] = [
  { id: 'composer', label: 'I/O composer', key: '1' },
  { id: 'inspector', label: 'PDU inspector', key: '2' },
  { id: 'stepper', label: 'Encapsulation', key: '3' },
  { id: 'console', label: 'Console', key: '4' },
  { id: 'capture', label: 'Capture', key: '5' },
  { id: 'cache', label: 'Cache', key: '6' },
  { id: 'lessons', label: 'Lessons', key: '7' },
  { id: 'ladder', label: 'Ladder', key: '8' },
  { id: 'waterfall', label: 'Waterfall', key: '9' },
  { id: 'overhead', label: 'Overhead', key: '0' },
  { id: 'fs', label: 'File system', key: '-' },
  { id: 'faults', label: 'Faults', key: '=' },
];

const PROJECTOR_KEY = 'iscsi-lab.projector';

function loadProjector(): boolean {
  try {
    return localStorage.getItem(PROJECTOR_KEY) === '1';
  } catch {
    return false;
  }
}

export class Ui {
  tab = $state<Tab>('composer');
  selectedSeq = $state<number | null>(null);
  /** The task the stepper walks (follows the selected PDU's task unless set on its own). */
  stepTaskId = $state<number | null>(null);
  projector = $state(loadProjector());

  /** The selected PDU event (re-read when the trace changes, so it is undefined once forgotten). */
  get selected(): PduTraceEvent | undefined {
    const seq = this.selectedSeq;
    if (seq === null) return undefined;
    void lab.pdus;
    return lab.pduBySeq(seq);
  }

  get selectedTaskId(): number | undefined {
    return this.selected?.taskId;
  }

  get stepTask(): TaskInfo | undefined {
    void lab.pdus;
    const id = this.stepTaskId;
    return id === null ? undefined : lab.tasks.get(id);
  }

  select(seq: number | null, opts: { openInspector?: boolean } = {}): void {
    this.selectedSeq = seq;
    const e = seq === null ? undefined : lab.pduBySeq(seq);
    if (e?.taskId !== undefined) this.stepTaskId = e.taskId;
    if (opts.openInspector && this.tab !== 'inspector' && this.tab !== 'stepper') this.tab = 'inspector';
  }

  stepThrough(taskId: number): void {
    this.stepTaskId = taskId;
    const t = lab.tasks.get(taskId);
    if (t) this.selectedSeq = t.first.seq;
    this.tab = 'stepper';
  }

  setProjector(on: boolean): void {
    this.projector = on;
    try {
      localStorage.setItem(PROJECTOR_KEY, on ? '1' : '0');
    } catch {
      // private mode: the toggle still works for this page
    }
  }
}

export const ui = new Ui();
