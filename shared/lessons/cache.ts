/** "Cache: cold, warm, scan, write-back and flush": the target's block cache deciding, I/O by I/O. */
import type { Lesson } from './types.ts';

export const CACHE: Lesson = {
  id: 'cache',
  title: 'Cache: cold, warm, scan, write-back and flush',
  summary: 'The second of the five read steps, cache scheduling: a miss goes to the store, a hit does not; writes wait in the cache until a flush.',
  topics: ['SCSI lower layer', 'store'],
  steps: [
    {
      instruction:
        "The lab's LUN sits behind a block cache (4 KiB blocks, 2Q policy, write-back, readahead on). Each store event in the trace says, per range, hit or miss and where the time went. Press Next.",
      check: { kind: 'read' },
      hints: ["The Cache tab shows the cache's map and counters."],
    },
    {
      instruction: 'Cold read: read 8 blocks at an LBA nobody has touched yet, e.g. 60000.',
      explain: 'A miss: the cache had nothing, so the store read the LUN file (pread).',
      check: { kind: 'cache', op: 'read', outcomes: ['miss', 'partial'] },
      hints: ['If it says hit, someone read it before: pick another LBA far away.'],
    },
    {
      instruction: 'Warm read: read the very same 8 blocks again.',
      explain: "A hit: no store read at all; the waterfall's store segment is (almost) gone.",
      check: { kind: 'cache', op: 'read', outcomes: ['hit', 'readahead-hit'] },
      hints: ['Same LBA, same block count.'],
    },
    {
      instruction: 'Scan: read 64 blocks at LBA 70000, then the next 64 at LBA 70064, then the next 64 at LBA 70128.',
      explain:
        'From the second read of a sequential stream the cache fetches ahead (a 256 KiB window): the third read was served by readahead. A long scan does not push the hot blocks out under 2Q.',
      check: { kind: 'cache', op: 'read', outcomes: ['readahead-hit', 'hit'] },
      hints: ['Each read must start exactly where the one before ended.'],
    },
    {
      instruction: 'Write-back: write 8 blocks at LBA 60000.',
      explain: 'The write completed when the cache held it (dirty); the LUN file has not been written yet.',
      check: { kind: 'cache', op: 'write', outcomes: ['write-hit', 'write-allocate'] },
      hints: ['The Cache tab counts dirty bytes.'],
    },
    {
      instruction: 'Flush: write at LBA 60000 again with FUA ticked (or send SYNCHRONIZE CACHE, e.g. `qemu-io -c flush URL`).',
      explain: 'FUA (force unit access) and SYNCHRONIZE CACHE make the target write dirty blocks and fdatasync before it answers: durability costs time.',
      check: { kind: 'flush' },
      hints: ['FUA is a checkbox in the I/O composer.'],
    },
  ],
};
