/**
 * indexCapture (index-capture.ts) on a worker thread: a large capture is read and described while the target's
 * event loop keeps serving initiators. One short-lived worker per capture; the index comes back as transferred
 * typed arrays (no copy).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CaptureIndex } from './index-capture.ts';
import type { CaptureReadOptions } from './read-capture.ts';

/** The capture is not one the reader understands (bad magic, damaged blocks): the message says why. */
export class CaptureIndexError extends Error {}

// Plain JS so the worker starts without a TypeScript loader, then loads one (tsx) and requires the indexer.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
Promise.resolve()
  .then(() => { require(workerData.tsx).register(); return require(workerData.module); })
  .then((m) => {
    let r;
    try { r = m.indexCapture(workerData.path, workerData.spool, workerData.opts); }
    catch (err) { parentPort.postMessage({ error: String(err && err.message || err), format: err && err.name === 'CaptureFormatError' }); return; }
    parentPort.postMessage({ index: r }, [r.offsets.buffer, r.lengths.buffer, r.flags.buffer, r.connections.buffer, r.eventOffsets.buffer]);
  })
  .catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
`;

interface Reply {
  index?: CaptureIndex;
  error?: string;
  format?: boolean;
}

/** Indexes `path` into `spool`.pdus / `spool`.events on a worker thread. */
export function indexCaptureInWorker(path: string, spool: string, opts: CaptureReadOptions = {}): Promise<CaptureIndex> {
  return new Promise((resolve, reject) => {
    const module = fileURLToPath(new URL('./index-capture.ts', import.meta.url));
    // tsx's require hook (the ESM hooks of the main thread do not reach workers), resolved here: the worker's own
    // resolution would start from the process's working directory.
    const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, tsx, path, spool, opts } });
    let settled = false;
    worker.once('message', (r: Reply) => {
      settled = true;
      if (r.index) resolve(r.index);
      else if (r.format) reject(new CaptureIndexError(r.error));
      else reject(new Error(`capture indexer failed: ${r.error}`));
      void worker.terminate();
    });
    worker.once('error', (err) => {
      if (!settled) reject(new Error(`capture indexer failed: ${err.message}`));
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`capture indexer exited with code ${code} before answering`));
      settled = true;
    });
  });
}
