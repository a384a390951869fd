/**
 * fdatasync on a thread of its own. The libuv pool is kept small (bin/iscsi-lab.cjs: one thread per core, 2 to 4;
 * extra pool threads cost more in wake-ups than they give), so a flush that waits tens of milliseconds for the disk
 * must not hold one of those few threads in front of every LUN's reads. Flushes are rare
 * (FUA, SYNCHRONIZE CACHE, write-back), so a message round trip per flush costs nothing that matters.
 */
import { Worker } from 'node:worker_threads';

// Plain JS so the worker needs no TypeScript loader.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { fdatasyncSync } = require('node:fs');
parentPort.on('message', ({ id, fd }) => {
  try { fdatasyncSync(fd); parentPort.postMessage({ id }); }
  catch (err) { parentPort.postMessage({ id, error: String(err && err.message || err) }); }
});
`;

interface Reply {
  id: number;
  error?: string;
}

class DatasyncThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  datasync(fd: number): Promise<void> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, fd });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref(); // idle, it must not keep the process alive; ref'd while a flush is pending
    worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.error === undefined) waiter.resolve();
      else waiter.reject(new Error(`fdatasync: ${reply.error}`));
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`datasync thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** The thread died: every waiting flush fails (the data is not known to be durable), the next one restarts it. */
  private fail(err: Error): void {
    this.worker = undefined;
    const waiters = [...this.pending.values()];
    this.pending.clear();
    for (const w of waiters) w.reject(err);
  }
}

/** One thread for the whole process: flushes of different LUNs queue behind each other, as they would on one disk. */
export const datasyncThread = new DatasyncThread();
