#!/bin/sh
':' //; exec node --single-threaded-gc "$0" "$@"
// The CLI's entry, which runs two ways. Executed as a program (`npx iscsi-lab`, `npm start`, `bin/iscsi-lab.cjs`),
// the line above is a shell command that runs this same file in Node with the V8 flag the lab is built for; to
// Node that line is a string and a comment. Run as `node bin/iscsi-lab.cjs`, the lab works the same, slower.
//
// --single-threaded-gc: V8's concurrent marking and parallel scavenging threads competed with the event loop, the
// libuv pool and the initiator for this machine's 2 cores; under 1 MiB I/O the process's GC helper threads used
// more CPU than the event loop. Collecting on the main thread only: sequential 1 MiB reads 1255 -> 1918/s, 1 MiB
// writes 628 -> 891/s, 4 KiB I/O unchanged (docs/performance.md). V8 reads it only at start-up (it may not be set
// from code, nor from NODE_OPTIONS), hence this launcher line.
//
// CommonJS on purpose: an ES module entry is itself read through the libuv pool, which starts the
// pool before any line of ours runs, and the pool size below must be set before that.
//
// The libuv pool is sized to the machine unless the user sets UV_THREADPOOL_SIZE: Node's default of 4 threads on a
// 2-core machine turned each 4 KiB read into a thread wake-up competing with the event loop, while a single thread
// serialized 1 MiB reads; one thread per core (2 to 4) served both (docs/performance.md). Flushes do not wait in
// that pool: server/store/datasync-thread.ts.
'use strict';
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(2, Math.min(4, require('node:os').availableParallelism())));
// tsx runs the TypeScript sources directly, so `npx iscsi-lab` works right after `npm install` with no build step.
import('tsx/esm/api')
  .then(({ register }) => {
    register();
    return import('../server/cli.ts');
  })
  .catch((err) => {
    console.error(`iscsi-lab: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  });
