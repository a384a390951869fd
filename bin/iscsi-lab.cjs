#!/usr/bin/env node
// The CLI's entry. CommonJS on purpose: an ES module entry is itself read through the libuv pool, which starts the
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
