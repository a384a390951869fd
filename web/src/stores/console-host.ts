/** What the console's commands may do in this page: the API, the trace, the stepper. */
import {
  addFault,
  clearFaults,
  deleteFault,
  getCacheStats,
  getFaults,
  getInquiry,
  getReadCapacity,
  getStatus,
  getStep,
  getTraceStats,
  getVpd,
  postCache,
  postIo,
  postStep,
  resetCacheStats,
} from '../lib/api.ts';
import { offline } from './offline.svelte.ts';
import type { ConsoleHost } from '../lib/console/commands.ts';
import { scsiCommandText } from '../lib/pdu-summary.ts';
import { lab } from './lab.svelte.ts';
import { stepper } from './stepper.svelte.ts';
import { timeline } from './timeline.svelte.ts';
import { ui } from './ui.svelte.ts';

export const consoleHost: ConsoleHost = {
  status: getStatus,
  io: postIo,
  traceStats: getTraceStats,
  cacheStats: getCacheStats,
  pageTrace: () => ({
    pdus: lab.pdus.length,
    received: lab.received,
    dropped: lab.droppedByHub + lab.droppedByRecorder,
    rate: lab.rate,
    paused: timeline.paused,
    connected: lab.connected,
  }),
  setPaused: (p) => timeline.setPaused(p),
  clearTrace: () => lab.clear(),
  download(url) {
    const a = document.createElement('a');
    a.href = url;
    a.download = '';
    document.body.append(a);
    a.click();
    a.remove();
  },
  inquiry: getInquiry,
  vpd: getVpd,
  readCapacity: getReadCapacity,
  changeCache: postCache,
  resetCacheStats,
  uploaded: () => offline.last ?? undefined,
  openCapture() {
    // The Capture tab's file input: the same upload path as its button.
    ui.tab = 'capture';
    queueMicrotask(() => document.querySelector<HTMLInputElement>('[data-testid=upload-input]')?.click());
  },
  async replay() {
    await offline.replay();
    if (!offline.report) throw new Error(offline.error ?? 'the replay gave no report');
    return offline.report;
  },
  stepIo: (req) => postIo({ ...req, step: true }),
  async stepAction(action) {
    // Asked first so that "nothing to continue" is a line here, not a failed request in the page's log.
    const now = await getStep();
    if (!now.active) throw new Error('no stepped I/O is in progress: step read LBA or step write LBA TEXT starts one');
    if (action === 'next' && !now.stage) throw new Error('the stepped I/O is between stages; try again in a moment');
    const st = await postStep(action);
    lab.setStep(st);
    return st;
  },
  stepState: getStep,
  faults: async () => (await getFaults()).faults,
  addFault: async (rule) => (await addFault(rule)).id,
  deleteFaults: async (id) => (id === undefined ? (await clearFaults()).deleted : (await deleteFault(id), 1)),
  step(which) {
    const t = which === 'last' ? stepper.latest() : lab.tasks.get(which);
    if (!t)
      return {
        ok: false,
        text: which === 'last' ? 'step: no READ or WRITE in the trace yet — try: write 0 hello' : `step: no task ${which} in this page's trace`,
      };
    if (!t.scsi) return { ok: false, text: `step: task ${t.id} is not a SCSI command` };
    ui.stepThrough(t.id);
    return { ok: true, text: `stepping through task ${t.id}: ${scsiCommandText(t.scsi)} (see the Encapsulation tab; ←/→ move between stages)` };
  },
};
