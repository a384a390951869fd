/** "Counting: ITT, CmdSN, StatSN, DataSN": the numbers that keep one session in order. */
import type { Lesson } from './types.ts';

export const SEQUENCE_NUMBERS: Lesson = {
  id: 'sequence-numbers',
  title: 'Counting: ITT, CmdSN, StatSN, DataSN',
  summary: 'Tags name a task, sequence numbers order commands, statuses and data; find each in the bytes and in the ladder.',
  topics: ['iSCSI initiator', 'iSCSI target'],
  steps: [
    {
      instruction: 'Read 64 blocks (32 KiB) at LBA 1000.',
      check: { kind: 'io', op: 'read', lba: 1000 },
      hints: ['Composer: op read, LBA 1000, blocks 64.'],
    },
    {
      instruction: 'Select its SCSI Command and click the InitiatorTaskTag.',
      explain: 'The ITT names this task: every PDU of it (Data-In, SCSI Response) carries the same tag.',
      check: { kind: 'field', field: 'InitiatorTaskTag', opcodeName: 'SCSI Command' },
      hints: ['Bytes 16-19 of the BHS.'],
    },
    {
      instruction: 'Click its CmdSN.',
      explain: 'CmdSN numbers commands in session order; the target delivers them in that order, within [ExpCmdSN, MaxCmdSN].',
      check: { kind: 'field', field: 'CmdSN', opcodeName: 'SCSI Command' },
      hints: ['Bytes 24-27.'],
    },
    {
      instruction: 'Select the SCSI Data-In of that read and click its DataSN.',
      check: { kind: 'field', field: 'DataSN', opcodeName: 'SCSI Data-In' },
      hints: ['Data-In travels target -> initiator; DataSN counts them from 0.'],
    },
    {
      instruction: 'Click the StatSN of the PDU that carried the status (the last Data-In with the S bit, or the SCSI Response).',
      explain: 'StatSN numbers statuses per connection; the initiator acknowledges them with ExpStatSN on its next command.',
      check: { kind: 'field', field: 'StatSN' },
      hints: ['Bytes 24-27 of a SCSI Response or a Data-In with S set.'],
    },
    {
      instruction: 'Open the Ladder view to see the numbers on every arrow.',
      check: { kind: 'view', tab: 'ladder' },
      hints: ['A tab on the right.'],
    },
  ],
};
