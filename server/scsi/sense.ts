/**
 * SCSI failures as values: one table of sense reasons (key + ASC/ASCQ, SPC-4 4.5.6 and Annex D), one builder that
 * turns a reason into fixed-format (SPC-4 4.5.3) or descriptor-format (SPC-4 4.5.2) sense bytes.
 * Handlers throw a CheckCondition; the target catches it and builds the sense in the format the LU's control mode
 * page (D_SENSE) asks for.
 */

export const enum SenseKey {
  NoSense = 0x0,
  RecoveredError = 0x1,
  NotReady = 0x2,
  MediumError = 0x3,
  HardwareError = 0x4,
  IllegalRequest = 0x5,
  UnitAttention = 0x6,
  DataProtect = 0x7,
  BlankCheck = 0x8,
  CopyAborted = 0xa,
  AbortedCommand = 0xb,
  Miscompare = 0xe,
}

export interface SenseReason {
  readonly key: SenseKey;
  readonly asc: number;
  readonly ascq: number;
  readonly name: string;
}

const reason = (key: SenseKey, asc: number, ascq: number, name: string): SenseReason => ({ key, asc, ascq, name });

/** Every sense this target reports. Keep it one table: grep here to learn what the target can say. */
export const Sense = {
  NoSense: reason(SenseKey.NoSense, 0x00, 0x00, 'NO ADDITIONAL SENSE INFORMATION'),
  // NOT READY
  MediumNotPresent: reason(SenseKey.NotReady, 0x3a, 0x00, 'MEDIUM NOT PRESENT'),
  SanitizeInProgress: reason(SenseKey.NotReady, 0x04, 0x1b, 'LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS'),
  // HARDWARE ERROR: our own failures (I/O errors, bugs) surface as this, never as ILLEGAL REQUEST
  InternalTargetFailure: reason(SenseKey.HardwareError, 0x44, 0x00, 'INTERNAL TARGET FAILURE'),
  // MEDIUM ERROR
  UnrecoveredReadError: reason(SenseKey.MediumError, 0x11, 0x00, 'UNRECOVERED READ ERROR'),
  WriteError: reason(SenseKey.MediumError, 0x0c, 0x00, 'WRITE ERROR'),
  SanitizeCommandFailed: reason(SenseKey.MediumError, 0x31, 0x03, 'SANITIZE COMMAND FAILED'),
  // ILLEGAL REQUEST
  ParameterListLengthError: reason(SenseKey.IllegalRequest, 0x1a, 0x00, 'PARAMETER LIST LENGTH ERROR'),
  InvalidOpcode: reason(SenseKey.IllegalRequest, 0x20, 0x00, 'INVALID COMMAND OPERATION CODE'),
  LbaOutOfRange: reason(SenseKey.IllegalRequest, 0x21, 0x00, 'LOGICAL BLOCK ADDRESS OUT OF RANGE'),
  InvalidFieldInCdb: reason(SenseKey.IllegalRequest, 0x24, 0x00, 'INVALID FIELD IN CDB'),
  LunNotSupported: reason(SenseKey.IllegalRequest, 0x25, 0x00, 'LOGICAL UNIT NOT SUPPORTED'),
  InvalidFieldInParameterList: reason(SenseKey.IllegalRequest, 0x26, 0x00, 'INVALID FIELD IN PARAMETER LIST'),
  InvalidFieldInInformationUnit: reason(SenseKey.IllegalRequest, 0x0e, 0x03, 'INVALID FIELD IN INFORMATION UNIT'),
  SavingParametersNotSupported: reason(SenseKey.IllegalRequest, 0x39, 0x00, 'SAVING PARAMETERS NOT SUPPORTED'),
  MediumRemovalPrevented: reason(SenseKey.IllegalRequest, 0x53, 0x02, 'MEDIUM REMOVAL PREVENTED'),
  OperationInProgress: reason(SenseKey.IllegalRequest, 0x00, 0x16, 'OPERATION IN PROGRESS'),
  TooManyTargetDescriptors: reason(SenseKey.IllegalRequest, 0x26, 0x06, 'TOO MANY TARGET DESCRIPTORS'),
  UnsupportedTargetDescriptorType: reason(SenseKey.IllegalRequest, 0x26, 0x07, 'UNSUPPORTED TARGET DESCRIPTOR TYPE CODE'),
  TooManySegmentDescriptors: reason(SenseKey.IllegalRequest, 0x26, 0x08, 'TOO MANY SEGMENT DESCRIPTORS'),
  UnsupportedSegmentDescriptorType: reason(SenseKey.IllegalRequest, 0x26, 0x09, 'UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE'),
  // COPY ABORTED (SPC-4 5.17.7): an EXTENDED COPY could not do what a segment descriptor asked
  CopyAborted: reason(SenseKey.CopyAborted, 0x00, 0x00, 'COPY ABORTED'),
  UnreachableCopyTarget: reason(SenseKey.CopyAborted, 0x08, 0x04, 'UNREACHABLE COPY TARGET'),
  CopyTargetNotReachable: reason(SenseKey.CopyAborted, 0x0d, 0x02, 'COPY TARGET DEVICE NOT REACHABLE'),
  // UNIT ATTENTION (SAM-5 5.14, SPC-4 Annex D)
  PowerOnReset: reason(SenseKey.UnitAttention, 0x29, 0x00, 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED'),
  PowerOnOccurred: reason(SenseKey.UnitAttention, 0x29, 0x01, 'POWER ON OCCURRED'),
  TargetResetOccurred: reason(SenseKey.UnitAttention, 0x29, 0x02, 'SCSI BUS RESET OCCURRED'),
  LunResetOccurred: reason(SenseKey.UnitAttention, 0x29, 0x03, 'BUS DEVICE RESET FUNCTION OCCURRED'),
  ItNexusLossOccurred: reason(SenseKey.UnitAttention, 0x29, 0x07, 'I_T NEXUS LOSS OCCURRED'),
  ModeParametersChanged: reason(SenseKey.UnitAttention, 0x2a, 0x01, 'MODE PARAMETERS CHANGED'),
  CapacityDataChanged: reason(SenseKey.UnitAttention, 0x2a, 0x09, 'CAPACITY DATA HAS CHANGED'),
  MediumMayHaveChanged: reason(SenseKey.UnitAttention, 0x28, 0x00, 'NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED'),
  ReportedLunsDataChanged: reason(SenseKey.UnitAttention, 0x3f, 0x0e, 'REPORTED LUNS DATA HAS CHANGED'),
  // ABORTED COMMAND: write data the transport could not take (SPC-4 4.5.6)
  DataPhaseError: reason(SenseKey.AbortedCommand, 0x4b, 0x00, 'DATA PHASE ERROR'),
  // DATA PROTECT
  WriteProtected: reason(SenseKey.DataProtect, 0x27, 0x00, 'WRITE PROTECTED'),
  // MISCOMPARE
  MiscompareDuringVerify: reason(SenseKey.Miscompare, 0x1d, 0x00, 'MISCOMPARE DURING VERIFY OPERATION'),
} as const;

/** Which byte (and optionally bit) of the CDB or parameter list was wrong: SPC-4 4.5.2.4.2 field pointer. */
interface FieldPointer {
  /** true: the error is in the CDB (C/D = 1); false: in the parameter data. */
  readonly cdb: boolean;
  readonly byte: number;
  readonly bit?: number;
}

export interface SenseDetails {
  /** INFORMATION field (e.g. the offset of the first miscompared byte, SBC-3 5.2/5.22). */
  readonly information?: number;
  readonly field?: FieldPointer;
  /**
   * PROGRESS INDICATION (SPC-4 4.5.2.4.4), 0..65535 = fraction done of a long operation (sanitize): reported in
   * the sense-key specific field when there is no field pointer.
   */
  readonly progress?: number;
}

/** Thrown by handlers; the target turns it into CHECK CONDITION with sense data. */
export class CheckCondition extends Error {
  constructor(
    readonly reason: SenseReason,
    readonly details: SenseDetails = {},
  ) {
    super(reason.name);
    this.name = 'CheckCondition';
  }
}

/** Shorthand for the most common failure: `throw invalidField(byte, bit)`. */
export function invalidField(byte: number, bit?: number): CheckCondition {
  return new CheckCondition(Sense.InvalidFieldInCdb, { field: { cdb: true, byte, bit } });
}

export function invalidParameter(byte: number, bit?: number): CheckCondition {
  return new CheckCondition(Sense.InvalidFieldInParameterList, { field: { cdb: false, byte, bit } });
}

// Fixed format offsets, SPC-4 table 48
const FIXED_LENGTH = 18;
const FIXED_RESPONSE_CODE = 0x70; // current error, fixed format
const FIXED_VALID = 0x80;
const FIXED_INFORMATION = 3;
const FIXED_ADDITIONAL_LENGTH = 7;
const FIXED_ASC = 12;
const FIXED_SKS = 15;
// Descriptor format, SPC-4 table 27
const DESC_RESPONSE_CODE = 0x72;
const DESC_HEADER = 8;
const DESC_TYPE_INFORMATION = 0x00; // SPC-4 4.5.2.2
const DESC_TYPE_SENSE_KEY_SPECIFIC = 0x02; // SPC-4 4.5.2.4
// Sense-key specific field pointer bits, SPC-4 table 32
const SKS_VALID = 0x80;
const SKS_CD = 0x40;
const SKS_BPV = 0x08;

/** Builds sense bytes for `reason`: fixed format unless `descriptor` (control mode page D_SENSE = 1). */
export function buildSense(reason: SenseReason, details: SenseDetails = {}, descriptor = false): Uint8Array {
  const sks = details.field ? senseKeySpecific(details.field) : details.progress !== undefined ? progressIndication(details.progress) : undefined;
  if (descriptor) {
    const infoLen = details.information !== undefined ? 12 : 0;
    const sksLen = sks ? 8 : 0;
    const out = new Uint8Array(DESC_HEADER + infoLen + sksLen);
    out[0] = DESC_RESPONSE_CODE;
    out[1] = reason.key;
    out[2] = reason.asc;
    out[3] = reason.ascq;
    out[7] = infoLen + sksLen;
    let o = DESC_HEADER;
    if (details.information !== undefined) {
      out[o] = DESC_TYPE_INFORMATION;
      out[o + 1] = 0x0a;
      out[o + 2] = 0x80; // VALID
      writeBig64(out, o + 4, details.information);
      o += 12;
    }
    if (sks) {
      out[o] = DESC_TYPE_SENSE_KEY_SPECIFIC;
      out[o + 1] = 0x06;
      out.set(sks, o + 4);
    }
    return out;
  }
  const out = new Uint8Array(FIXED_LENGTH);
  out[0] = FIXED_RESPONSE_CODE;
  out[2] = reason.key;
  out[FIXED_ADDITIONAL_LENGTH] = FIXED_LENGTH - 8;
  out[FIXED_ASC] = reason.asc;
  out[FIXED_ASC + 1] = reason.ascq;
  if (details.information !== undefined && details.information <= 0xffffffff) {
    out[0] |= FIXED_VALID;
    new DataView(out.buffer).setUint32(FIXED_INFORMATION, details.information);
  }
  if (sks) out.set(sks, FIXED_SKS);
  return out;
}

function senseKeySpecific(field: FieldPointer): Uint8Array {
  const sks = new Uint8Array(3);
  sks[0] = SKS_VALID | (field.cdb ? SKS_CD : 0) | (field.bit !== undefined ? SKS_BPV | (field.bit & 7) : 0);
  sks[1] = (field.byte >> 8) & 0xff;
  sks[2] = field.byte & 0xff;
  return sks;
}

function progressIndication(progress: number): Uint8Array {
  const value = Math.max(0, Math.min(0xffff, Math.floor(progress)));
  return Uint8Array.of(SKS_VALID, value >> 8, value & 0xff);
}

function writeBig64(out: Uint8Array, offset: number, value: number): void {
  new DataView(out.buffer, out.byteOffset).setBigUint64(offset, BigInt(value));
}

/** Parses key/ASC/ASCQ out of fixed or descriptor sense (for taps, logs and tests). */
export function parseSense(sense: Uint8Array): { key: number; asc: number; ascq: number; information?: number } {
  const code = sense[0]! & 0x7f;
  if (code === 0x72 || code === 0x73) {
    const result: { key: number; asc: number; ascq: number; information?: number } = {
      key: sense[1]! & 0x0f,
      asc: sense[2]!,
      ascq: sense[3]!,
    };
    for (let o = DESC_HEADER; o + 1 < sense.length; o += 2 + sense[o + 1]!) {
      if (sense[o] === DESC_TYPE_INFORMATION) {
        result.information = Number(new DataView(sense.buffer, sense.byteOffset).getBigUint64(o + 4));
      }
    }
    return result;
  }
  const result: { key: number; asc: number; ascq: number; information?: number } = {
    key: sense[2]! & 0x0f,
    asc: sense[FIXED_ASC]!,
    ascq: sense[FIXED_ASC + 1]!,
  };
  if (sense[0]! & FIXED_VALID) {
    result.information = new DataView(sense.buffer, sense.byteOffset).getUint32(FIXED_INFORMATION);
  }
  return result;
}
