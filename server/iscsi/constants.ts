/** The fixed layout facts every codec shares (RFC 7143 11.2), and the opcodes by their usual name here. */
import { IscsiOpcode } from '../../shared/protocol/iscsi-opcodes.ts';

// The one opcode vocabulary (shared/protocol/iscsi-opcodes.ts), under the name the codecs have always used.
export const Opcode = IscsiOpcode;
export type Opcode = IscsiOpcode;

// Opcode names as RFC 7143 and Wireshark give them live in shared/protocol/iscsi.ts (ISCSI_OPCODE_NAMES).

export const BHS_LENGTH = 48;
export const DIGEST_LENGTH = 4;
/** ITT/TTT value meaning "no task" (RFC 7143 11.18, 11.19). */
export const RESERVED_TAG = 0xffffffff;

/** Byte offsets shared by every BHS (RFC 7143 11.2.1). */
export const enum Bhs {
  Opcode = 0, // bit 6: immediate (requests); bits 0-5 opcode
  Flags = 1,
  TotalAhsLength = 4, // in 4-byte words
  DataSegmentLength = 5, // 3 bytes
  Lun = 8, // 8 bytes (or opcode-specific)
  Itt = 16,
  Word20 = 20, // TTT, ExpectedDataTransferLength, CID...
  Word24 = 24, // CmdSN or StatSN
  Word28 = 28, // ExpStatSN or ExpCmdSN
  Word32 = 32, // MaxCmdSN, ExpStatSN...
  Word36 = 36,
  Word40 = 40,
  Word44 = 44,
  // eslint-disable-next-line @typescript-eslint/no-duplicate-enum-values -- the SCSI Command keeps its CDB where other PDUs have word 32
  Cdb = 32, // SCSI Command: 16 bytes
}

export const IMMEDIATE_BIT = 0x40;
export const FINAL_BIT = 0x80;

/** Limits on what the network can make us hold (named so each cap is findable). */
export const LIMITS = {
  /** What we declare as MaxRecvDataSegmentLength; Wireshark ignores segments above 262144. */
  maxRecvDataSegmentLength: 262144,
  /** Total AHS bytes we accept (an extended CDB plus a bidirectional read length fit easily). */
  maxAhsLength: 1024,
  /** Largest write we gather into memory before handing it to SCSI. */
  maxWriteBytes: 32 * 1024 * 1024,
  /**
   * Data one connection's outstanding commands may hold, writes gathering and reads in flight each; a command past
   * it gets TASK SET FULL (the initiator retries it later).
   */
  maxTaskDataBytes: 128 * 1024 * 1024,
  /** Login and text key=value payload across continuation PDUs. */
  maxTextBytes: 64 * 1024,
  /** Commands a session may have in flight; the CmdSN window never opens wider. */
  commandWindow: 128,
  /** Out-of-order commands held while waiting for a CmdSN gap to fill. */
  maxHeldCommands: 128,
  /** Seconds a connection may spend logging in. */
  loginTimeoutSeconds: 15,
  /** Seconds of idle before the target sends a NOP-In ping, and to wait for its answer. */
  nopInIntervalSeconds: 30,
  nopInTimeoutSeconds: 30,
} as const;
