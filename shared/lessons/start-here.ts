/** "Start here": the seed's whole path once, with one write and one read of the lab's own LUN. */
import type { Lesson } from './types.ts';

export const START_HERE: Lesson = {
  id: 'start-here',
  title: 'Start here',
  summary: 'Write a block, read it back, find its LBA in the bytes, step through the read, and see the cache answer the second time.',
  topics: ['application', 'SCSI upper layer', 'iSCSI initiator', 'network', 'iSCSI target', 'SCSI lower layer'],
  steps: [
    {
      instruction:
        "An I/O travels six stages: application -> file system -> SCSI upper layer -> iSCSI initiator -> network -> iSCSI target -> SCSI lower layer, and back. Here the lab's own initiator plays the first four; the target is real. Press Next to begin.",
      check: { kind: 'read' },
      hints: ['The left side of the screen is the timeline: every PDU on the wire, live.'],
    },
    {
      instruction: 'Open the I/O composer, choose write, LBA 100, 1 block, type some text (e.g. `hello`) and press Write.',
      explain: 'The SCSI upper layer turned your request into a WRITE(16) CDB; the iSCSI initiator wrapped it in a SCSI Command PDU.',
      check: { kind: 'io', op: 'write', lba: 100 },
      hints: ['The composer is the first tab on the right (Alt+1).', 'LBA is the logical block address: block number 100, 512 bytes each.'],
    },
    {
      instruction: 'Now read LBA 100 back (op read, LBA 100, 1 block).',
      explain: 'The data comes back in a SCSI Data-In PDU; the status (GOOD) rides on it or on a SCSI Response.',
      check: { kind: 'io', op: 'read', lba: 100 },
      hints: ["Switch the composer's op to read and press Read."],
    },
    {
      instruction: 'In the timeline, click the SCSI Command of that READ (its row says `READ(16) LBA 100`).',
      check: { kind: 'select', opcodeName: 'SCSI Command' },
      hints: ['Newest PDUs are at the bottom of the timeline.', 'The arrow -> means initiator to target.'],
    },
    {
      instruction: 'In the PDU inspector, click the bytes of the LOGICAL BLOCK ADDRESS (inside the CDB, from byte 32 on).',
      explain: 'Those 8 bytes are 100 in big-endian: the block number travels inside the SCSI CDB, inside the iSCSI BHS.',
      check: { kind: 'field', field: 'LOGICAL BLOCK ADDRESS' },
      hints: [
        'The CDB starts at byte 32 of the BHS; READ(16) keeps its LBA in CDB bytes 2-9.',
        'Clicking a field in the tree highlights its bytes, and the other way round.',
      ],
    },
    {
      instruction: 'Open the Encapsulation tab and press Next until you reach the last stage (the answer back on the wire).',
      explain: 'The five steps of a read: receive the command, cache scheduling, read, iSCSI encapsulation, transmit.',
      check: { kind: 'stepper', stage: 'iscsi-back' },
      hints: ['The stepper walks the task of the selected PDU.', 'Each stage lists the bytes each layer added.'],
    },
    {
      instruction: "Read LBA 100 once more. This time the target's block cache already holds it.",
      explain: 'A cache hit: the store (the LUN file) was not read at all. Compare the store stage of both reads in the stepper or the waterfall.',
      check: { kind: 'cache', op: 'read', outcomes: ['hit', 'readahead-hit'] },
      hints: ['Same LBA, same block count, op read.'],
    },
  ],
};
