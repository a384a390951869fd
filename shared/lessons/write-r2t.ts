/** "A write with R2T and Data-Out": how write data is solicited and sent in pieces. */
import type { Lesson } from './types.ts';

export const WRITE_R2T: Lesson = {
  id: 'write-r2t',
  title: 'A write with R2T and Data-Out',
  summary: 'A write larger than the first burst: immediate data, then the target asks for the rest with R2T and the initiator answers with Data-Out.',
  topics: ['iSCSI initiator', 'network', 'iSCSI target'],
  steps: [
    {
      instruction:
        'Write data may ride in the SCSI Command (immediate data, up to FirstBurstLength) when the login said ImmediateData=Yes; the rest waits until the target sends R2T (Ready To Transfer) naming an offset and a length. With InitialR2T=Yes nothing goes unsolicited. Press Next.',
      check: { kind: 'read' },
      hints: ["The lab's initiator negotiates FirstBurstLength 65536: 64 KiB at most before the first R2T."],
    },
    {
      instruction: 'Write 256 blocks (128 KiB) at LBA 4096 with the I/O composer (a fill pattern is fine).',
      check: { kind: 'io', op: 'write', minBlocks: 256 },
      hints: ['Choose op write, blocks 256, data: pattern.'],
    },
    {
      instruction: 'Select the R2T in the timeline.',
      explain: 'The target asks for the bytes it has not got yet: BufferOffset 65536, DesiredDataTransferLength 65536.',
      check: { kind: 'select', opcodeName: 'R2T' },
      hints: ['R2T travels target -> initiator, between the SCSI Command and the Data-Out.'],
    },
    {
      instruction: "Click the R2T's TargetTransferTag in the inspector.",
      explain: "The TTT is the target's own tag for this transfer: every Data-Out that answers the R2T repeats it.",
      check: { kind: 'field', field: 'TargetTransferTag', opcodeName: 'R2T' },
      hints: ['Bytes 20-23 of the BHS.'],
    },
    {
      instruction: 'Click its BufferOffset.',
      check: { kind: 'field', field: 'BufferOffset', opcodeName: 'R2T' },
      hints: ["Bytes 40-43: where in the command's data the requested piece starts."],
    },
    {
      instruction: 'Select a SCSI Data-Out and click its DataSN.',
      explain: 'DataSN counts the Data-Out PDUs of one R2T from 0; the F bit marks the last one.',
      check: { kind: 'field', field: 'DataSN', opcodeName: 'SCSI Data-Out' },
      hints: ['Data-Out travels initiator -> target, right after the R2T.'],
    },
    {
      instruction: 'Open the Ladder view: the whole exchange as arrows between initiator and target.',
      check: { kind: 'view', tab: 'ladder' },
      hints: ['It is a tab on the right.'],
    },
  ],
};
