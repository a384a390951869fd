/** The words the lessons use, each with where the standard defines it. */
import type { GlossaryEntry } from './types.ts';

export const GLOSSARY: readonly GlossaryEntry[] = [
  { term: 'ITT', meaning: "Initiator Task Tag: the initiator's name for one task; every PDU of that command carries it.", source: 'RFC 7143 11.2.1.8' },
  {
    term: 'TTT',
    meaning: "Target Transfer Tag: the target's name for one solicited transfer (an R2T); the Data-Outs answering it repeat it.",
    source: 'RFC 7143 11.8.3',
  },
  { term: 'CmdSN', meaning: 'Command Sequence Number: numbers commands in session order, so the target delivers them in order.', source: 'RFC 7143 4.2.2.1' },
  {
    term: 'ExpCmdSN / MaxCmdSN',
    meaning: "The target's command window: the next CmdSN it expects, and the last one it will accept now.",
    source: 'RFC 7143 4.2.2.1',
  },
  { term: 'StatSN', meaning: "Status Sequence Number: numbers the target's responses on a connection.", source: 'RFC 7143 4.2.2.2' },
  { term: 'ExpStatSN', meaning: 'The next StatSN the initiator expects: it acknowledges every status before it.', source: 'RFC 7143 4.2.2.2' },
  { term: 'DataSN', meaning: 'Numbers the Data-In PDUs of a read, or the Data-Out PDUs of one R2T, from 0.', source: 'RFC 7143 11.7.5' },
  {
    term: 'R2T',
    meaning: "Ready To Transfer: the target asks for a piece of a write's data (BufferOffset, DesiredDataTransferLength).",
    source: 'RFC 7143 11.8',
  },
  {
    term: 'F bit',
    meaning: 'Final: the last PDU of a sequence (the last Data-Out of a burst, the last Data-In, a complete command).',
    source: 'RFC 7143 11.7.1',
  },
  { term: 'S bit', meaning: "Status: this Data-In carries the command's status too; no SCSI Response follows.", source: 'RFC 7143 11.7.1' },
  {
    term: 'Immediate data',
    meaning: 'Write data sent inside the SCSI Command PDU itself (ImmediateData=Yes), up to FirstBurstLength.',
    source: 'RFC 7143 13.11',
  },
  {
    term: 'InitialR2T',
    meaning: 'Yes: the initiator sends no unsolicited Data-Out; every byte beyond immediate data waits for an R2T.',
    source: 'RFC 7143 13.10',
  },
  {
    term: 'FirstBurstLength',
    meaning: 'The most unsolicited data (immediate plus unsolicited Data-Out) a write may send before an R2T.',
    source: 'RFC 7143 13.14',
  },
  {
    term: 'MaxRecvDataSegmentLength',
    meaning: 'The largest data segment a side accepts in one PDU; longer data goes in several PDUs.',
    source: 'RFC 7143 13.12',
  },
  { term: 'BHS', meaning: 'Basic Header Segment: the 48 bytes every iSCSI PDU starts with.', source: 'RFC 7143 11.2.1' },
  { term: 'AHS', meaning: 'Additional Header Segment: optional extra headers (e.g. a CDB longer than 16 bytes).', source: 'RFC 7143 11.2.2' },
  { term: 'Digest', meaning: 'CRC32C over the header (HeaderDigest) or the data (DataDigest), 4 bytes each when negotiated.', source: 'RFC 7143 11.2.3' },
  { term: 'CDB', meaning: 'Command Descriptor Block: the SCSI command itself (opcode, LBA, transfer length), inside the BHS.', source: 'SAM-5 5.2' },
  { term: 'LBA', meaning: 'Logical Block Address: the number of a block on the LUN.', source: 'SBC-3 4.4' },
  { term: 'LUN', meaning: 'Logical Unit Number: which disk behind the target a command is for.', source: 'SAM-5 4.6' },
  {
    term: 'CHAP',
    meaning: 'Challenge Handshake: the target sends CHAP_I and CHAP_C; the initiator answers CHAP_R = hash(id, secret, challenge).',
    source: 'RFC 7143 12.1.3',
  },
  { term: 'CSG / NSG', meaning: 'Current and Next Stage of a login: 0 Security, 1 Operational, 3 Full Feature Phase.', source: 'RFC 7143 11.12.3' },
  { term: 'FUA', meaning: 'Force Unit Access: the write completes only once the data is on stable storage.', source: 'SBC-3 5.32' },
  { term: 'SRT', meaning: "Service Response Time: from a SCSI command to its status, per opcode (Wireshark's scsi,srt table).", source: 'Wireshark scsi,srt' },
];
