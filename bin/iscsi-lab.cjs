#!/usr/bin/env node
// The CLI's entry. CommonJS on purpose: an ES module entry is itself read through the libuv pool, which starts the
// pool before any line of ours runs, and the pool size below must be set before that.
//
// One libuv pool thread unless the user sets UV_THREADPOOL_SIZE: on a 2-core machine every extra idle pool thread
// turned each 4 KiB read into a thread wake-up (random 4 KiB reads at depth 32: ~18k IOPS with 4 threads, ~55k
// with 1; docs/performance.md). Flushes do not wait in that pool: server/store/datasync-thread.ts.
'use strict';
process.env.UV_THREADPOOL_SIZE ??= '1';
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
