/** "What encapsulation costs": headers per byte of payload, small I/O against large. */
import type { Lesson } from './types.ts';

export const ENCAPSULATION_COST: Lesson = {
  id: 'encapsulation-cost',
  title: 'What encapsulation costs',
  summary: 'Every layer adds a header: SCSI CDB, iSCSI BHS (and digests), TCP, IP, Ethernet. Measure what that costs a 512-byte read and a 1 MiB one.',
  topics: ['iSCSI initiator', 'network'],
  steps: [
    {
      instruction:
        'The seed says encapsulation burdens bandwidth and CPU. Here you measure it: 48 bytes of BHS per PDU, 54 bytes of Ethernet/IPv4/TCP per segment, a segment per 1460 bytes on a 1500-byte MTU. Press Next.',
      check: { kind: 'read' },
      hints: ['The framing model is the one the pcapng export uses, so tshark agrees with it.'],
    },
    {
      instruction: 'Read 1 block (512 bytes) at LBA 0.',
      check: { kind: 'io', op: 'read', lba: 0 },
      hints: ['Composer: op read, LBA 0, blocks 1.'],
    },
    {
      instruction: 'Open the Encapsulation tab on that read and walk to the Data-In coming back.',
      explain: 'Each layer shows the bytes it added.',
      check: { kind: 'stepper', stage: 'iscsi-back' },
      hints: ['Step through this I/O from the composer result opens it.'],
    },
    {
      instruction: 'Open the Overhead view: the real PDUs of the latest I/O, and the chart over sizes and MTUs.',
      explain: 'For 512 bytes, headers are a large share of what crossed the wire; at 1 MiB it is a few percent.',
      check: { kind: 'view', tab: 'overhead' },
      hints: ['A tab on the right.'],
    },
    {
      instruction: 'Read 2048 blocks (1 MiB) at LBA 0 and look at the Overhead view again.',
      explain: 'Efficiency = payload / bytes on the wire. Compare it with the chart for MTU 9000 (jumbo frames).',
      check: { kind: 'io', op: 'read', minBlocks: 2048 },
      hints: ['2048 blocks of 512 bytes = 1 MiB, the most one composer I/O moves.'],
    },
  ],
};
