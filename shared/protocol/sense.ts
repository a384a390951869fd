/**
 * Sense data decoding (SPC-4 4.5): fixed (0x70/0x71) and descriptor (0x72/0x73) formats, sense key names and the
 * ASC/ASCQ texts an iSCSI lab meets (SPC-4 Annex D, table D.1). Unknown codes print as "ASC 0xNN ASCQ 0xNN".
 */
import { u32, u64 } from './bytes.ts';

export const SENSE_KEY_NAMES: readonly string[] = [
  'NO SENSE',
  'RECOVERED ERROR',
  'NOT READY',
  'MEDIUM ERROR',
  'HARDWARE ERROR',
  'ILLEGAL REQUEST',
  'UNIT ATTENTION',
  'DATA PROTECT',
  'BLANK CHECK',
  'VENDOR SPECIFIC',
  'COPY ABORTED',
  'ABORTED COMMAND',
  'RESERVED (0xC)',
  'VOLUME OVERFLOW',
  'MISCOMPARE',
  'COMPLETED',
];

/** (ASC << 8 | ASCQ) -> text, SPC-4 Annex D. */
const ASC_ASCQ: ReadonlyMap<number, string> = new Map<number, string>([
  [0x0000, 'NO ADDITIONAL SENSE INFORMATION'],
  [0x0011, 'AUDIO PLAY OPERATION IN PROGRESS'],
  [0x0400, 'LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE'],
  [0x0401, 'LOGICAL UNIT IS IN PROCESS OF BECOMING READY'],
  [0x0402, 'LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED'],
  [0x0403, 'LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED'],
  [0x0404, 'LOGICAL UNIT NOT READY, FORMAT IN PROGRESS'],
  [0x040a, 'LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION'],
  [0x040b, 'LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE'],
  [0x040c, 'LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE'],
  [0x041b, 'LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS'],
  [0x0800, 'LOGICAL UNIT COMMUNICATION FAILURE'],
  [0x0c00, 'WRITE ERROR'],
  [0x0c02, 'WRITE ERROR - AUTO REALLOCATION FAILED'],
  [0x0e01, 'INFORMATION UNIT TOO SHORT'],
  [0x0e02, 'INFORMATION UNIT TOO LONG'],
  [0x0e03, 'INVALID FIELD IN COMMAND INFORMATION UNIT'],
  [0x1000, 'ID CRC OR ECC ERROR'],
  [0x1100, 'UNRECOVERED READ ERROR'],
  [0x1400, 'RECORDED ENTITY NOT FOUND'],
  [0x1a00, 'PARAMETER LIST LENGTH ERROR'],
  [0x1d00, 'MISCOMPARE DURING VERIFY OPERATION'],
  [0x2000, 'INVALID COMMAND OPERATION CODE'],
  [0x2100, 'LOGICAL BLOCK ADDRESS OUT OF RANGE'],
  [0x2101, 'INVALID ELEMENT ADDRESS'],
  [0x2400, 'INVALID FIELD IN CDB'],
  [0x2500, 'LOGICAL UNIT NOT SUPPORTED'],
  [0x2600, 'INVALID FIELD IN PARAMETER LIST'],
  [0x2601, 'PARAMETER NOT SUPPORTED'],
  [0x2602, 'PARAMETER VALUE INVALID'],
  [0x2604, 'INVALID RELEASE OF PERSISTENT RESERVATION'],
  [0x2700, 'WRITE PROTECTED'],
  [0x2701, 'HARDWARE WRITE PROTECTED'],
  [0x2702, 'LOGICAL UNIT SOFTWARE WRITE PROTECTED'],
  [0x2707, 'SPACE ALLOCATION FAILED WRITE PROTECT'],
  [0x2800, 'NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED'],
  [0x2900, 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED'],
  [0x2901, 'POWER ON OCCURRED'],
  [0x2902, 'SCSI BUS RESET OCCURRED'],
  [0x2903, 'BUS DEVICE RESET FUNCTION OCCURRED'],
  [0x2904, 'DEVICE INTERNAL RESET'],
  [0x2907, 'I_T NEXUS LOSS OCCURRED'],
  [0x2a01, 'MODE PARAMETERS CHANGED'],
  [0x2a02, 'LOG PARAMETERS CHANGED'],
  [0x2a03, 'RESERVATIONS PREEMPTED'],
  [0x2a04, 'RESERVATIONS RELEASED'],
  [0x2a05, 'REGISTRATIONS PREEMPTED'],
  [0x2a06, 'ASYMMETRIC ACCESS STATE CHANGED'],
  [0x2a09, 'CAPACITY DATA HAS CHANGED'],
  [0x2c00, 'COMMAND SEQUENCE ERROR'],
  [0x2f00, 'COMMANDS CLEARED BY ANOTHER INITIATOR'],
  [0x3000, 'INCOMPATIBLE MEDIUM INSTALLED'],
  [0x3100, 'MEDIUM FORMAT CORRUPTED'],
  [0x3900, 'SAVING PARAMETERS NOT SUPPORTED'],
  [0x3a00, 'MEDIUM NOT PRESENT'],
  [0x3a01, 'MEDIUM NOT PRESENT - TRAY CLOSED'],
  [0x3a02, 'MEDIUM NOT PRESENT - TRAY OPEN'],
  [0x3d00, 'INVALID BITS IN IDENTIFY MESSAGE'],
  [0x3e00, 'LOGICAL UNIT HAS NOT SELF-CONFIGURED YET'],
  [0x3f01, 'MICROCODE HAS BEEN CHANGED'],
  [0x3f03, 'INQUIRY DATA HAS CHANGED'],
  [0x3f0e, 'REPORTED LUNS DATA HAS CHANGED'],
  [0x4400, 'INTERNAL TARGET FAILURE'],
  [0x4700, 'SCSI PARITY ERROR'],
  [0x4703, 'INFORMATION UNIT IUCRC ERROR DETECTED'],
  [0x4800, 'INITIATOR DETECTED ERROR MESSAGE RECEIVED'],
  [0x4900, 'INVALID MESSAGE ERROR'],
  [0x4b00, 'DATA PHASE ERROR'],
  [0x4b02, 'TOO MUCH WRITE DATA'],
  [0x4b03, 'ACK/NAK TIMEOUT'],
  [0x4b04, 'NAK RECEIVED'],
  [0x4b05, 'DATA OFFSET ERROR'],
  [0x4b06, 'INITIATOR RESPONSE TIMEOUT'],
  [0x4e00, 'OVERLAPPED COMMANDS ATTEMPTED'],
  [0x5302, 'MEDIUM REMOVAL PREVENTED'],
  [0x5500, 'SYSTEM RESOURCE FAILURE'],
  [0x5503, 'INSUFFICIENT RESOURCES'],
  [0x5504, 'INSUFFICIENT REGISTRATION RESOURCES'],
  [0x5d00, 'FAILURE PREDICTION THRESHOLD EXCEEDED'],
  [0x6700, 'CONFIGURATION FAILURE'],
  [0x6708, 'ASSIGN FAILURE OCCURRED'],
]);

export const senseKeyName = (key: number): string => SENSE_KEY_NAMES[key & 0x0f] ?? `SENSE KEY 0x${key.toString(16)}`;

export function ascAscqText(asc: number, ascq: number): string {
  const known = ASC_ASCQ.get((asc << 8) | ascq);
  if (known) return known;
  const h = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
  return `ASC ${h(asc)} ASCQ ${h(ascq)}`;
}

export interface DecodedSense {
  readonly format: 'fixed' | 'descriptor';
  readonly current: boolean;
  readonly key: number;
  readonly keyName: string;
  readonly asc: number;
  readonly ascq: number;
  /** "INVALID FIELD IN CDB" ... */
  readonly text: string;
  /** INFORMATION field when valid. */
  readonly information?: number;
  /** Sense-key specific field pointer (SPC-4 4.5.2.4.2), when valid and the key is ILLEGAL REQUEST. */
  readonly fieldPointer?: { readonly cdb: boolean; readonly byte: number; readonly bit?: number };
}

// SPC-4 table 48 (fixed) and table 27 (descriptor)
const FIXED_VALID = 0x80;
const FIXED_INFORMATION = 3;
const FIXED_ASC = 12;
const FIXED_SKS = 15;
const DESC_HEADER = 8;
const DESC_INFORMATION = 0x00;
const DESC_SENSE_KEY_SPECIFIC = 0x02;
const SKS_VALID = 0x80;

/** Decodes sense data (without the iSCSI SenseLength prefix); undefined when it is too short to hold a key. */
export function decodeSense(sense: Uint8Array): DecodedSense | undefined {
  if (sense.length < 3) return undefined;
  const code = sense[0]! & 0x7f;
  if (code === 0x72 || code === 0x73) {
    const key = sense[1]! & 0x0f;
    const asc = sense[2] ?? 0;
    const ascq = sense[3] ?? 0;
    let information: number | undefined;
    let fieldPointer: DecodedSense['fieldPointer'];
    for (let o = DESC_HEADER; o + 1 < sense.length; o += 2 + sense[o + 1]!) {
      if (sense[o] === DESC_INFORMATION && o + 12 <= sense.length) information = u64(sense, o + 4);
      if (sense[o] === DESC_SENSE_KEY_SPECIFIC && o + 7 <= sense.length) fieldPointer = sks(sense, o + 4, key);
    }
    return {
      format: 'descriptor',
      current: code === 0x72,
      key,
      keyName: senseKeyName(key),
      asc,
      ascq,
      text: ascAscqText(asc, ascq),
      information,
      fieldPointer,
    };
  }
  const key = sense[2]! & 0x0f;
  const asc = sense[FIXED_ASC] ?? 0;
  const ascq = sense[FIXED_ASC + 1] ?? 0;
  return {
    format: 'fixed',
    current: code !== 0x71,
    key,
    keyName: senseKeyName(key),
    asc,
    ascq,
    text: ascAscqText(asc, ascq),
    information: sense[0]! & FIXED_VALID && sense.length >= 7 ? u32(sense, FIXED_INFORMATION) : undefined,
    fieldPointer: sense.length >= FIXED_SKS + 3 ? sks(sense, FIXED_SKS, key) : undefined,
  };
}

function sks(b: Uint8Array, o: number, key: number): DecodedSense['fieldPointer'] {
  const b0 = b[o]!;
  if (!(b0 & SKS_VALID) || key !== 0x5) return undefined;
  return { cdb: (b0 & 0x40) !== 0, byte: ((b[o + 1] ?? 0) << 8) | (b[o + 2] ?? 0), bit: b0 & 0x08 ? b0 & 7 : undefined };
}
