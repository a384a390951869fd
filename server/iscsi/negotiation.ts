import type { KeyValue } from './text-keys.ts';

/** Operational parameters of a session once login has settled them (RFC 7143 13). */
export interface SessionParams {
  headerDigest: boolean;
  dataDigest: boolean;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  /** The initiator's MaxRecvDataSegmentLength: the largest data segment we may send it. */
  maxSendDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPduInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
}

/** RFC 7143 defaults: what holds for any key neither side mentions. */
export const DEFAULT_PARAMS: Readonly<SessionParams> = {
  headerDigest: false,
  dataDigest: false,
  maxConnections: 1,
  initialR2T: true,
  immediateData: true,
  maxSendDataSegmentLength: 8192,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2T: 1,
  dataPduInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
};

/** What this target is willing to do; each negotiated result is computed against these. */
const TARGET_OFFER = {
  digests: ['CRC32C', 'None'],
  maxConnections: 1,
  initialR2T: false,
  immediateData: true,
  maxBurstLength: 16776192,
  firstBurstLength: 16776192,
  defaultTime2Wait: 2,
  defaultTime2Retain: 0,
  maxOutstandingR2T: 16,
  errorRecoveryLevel: 0,
  protocolLevel: 1,
} as const;

type Numeric = { min: number; max: number };
const U24: Numeric = { min: 512, max: 16777215 };
const TIME: Numeric = { min: 0, max: 3600 };

type NegotiationOutcome = { ok: true; answers: KeyValue[]; declared: Map<string, string> } | { ok: false; status: number; reason: string };

/**
 * One round of operational (or security-stage operational) negotiation: takes the initiator's pairs, updates
 * `params` by each key's result function (RFC 7143 6.2, 13) and returns the answers to send back.
 * Declarative keys (names, aliases, SessionType) are returned in `declared` for the login state machine.
 */
export function negotiate(pairs: readonly KeyValue[], params: SessionParams): NegotiationOutcome {
  const answers: KeyValue[] = [];
  const declared = new Map<string, string>();
  for (const [key, value] of pairs) {
    const answer = negotiateOne(key, value, params, declared);
    if (answer !== undefined) answers.push([key, answer]);
  }
  if (params.firstBurstLength > params.maxBurstLength) params.firstBurstLength = params.maxBurstLength;
  return { ok: true, answers, declared };
}

function negotiateOne(key: string, value: string, p: SessionParams, declared: Map<string, string>): string | undefined {
  // Answers to keys we offered come back as these words; they need no answer.
  if (value === 'NotUnderstood' || value === 'Irrelevant' || value === 'Reject') return undefined;
  switch (key) {
    case 'InitiatorName':
    case 'InitiatorAlias':
    case 'TargetName':
    case 'SessionType':
    case 'TargetAlias':
    case 'TargetAddress':
    case 'TargetPortalGroupTag':
    case 'AuthMethod':
      declared.set(key, value);
      return undefined;
    case 'HeaderDigest':
    case 'DataDigest': {
      const pick = value.split(',').find((v) => (TARGET_OFFER.digests as readonly string[]).includes(v));
      if (!pick) return 'Reject';
      if (key === 'HeaderDigest') p.headerDigest = pick === 'CRC32C';
      else p.dataDigest = pick === 'CRC32C';
      return pick;
    }
    case 'MaxConnections':
      return numericMin(value, { min: 1, max: 65535 }, TARGET_OFFER.maxConnections, (v) => (p.maxConnections = v));
    case 'InitialR2T':
      return booleanOr(value, TARGET_OFFER.initialR2T, (v) => (p.initialR2T = v));
    case 'ImmediateData':
      return booleanAnd(value, TARGET_OFFER.immediateData, (v) => (p.immediateData = v));
    case 'DataPDUInOrder':
      return booleanOr(value, true, (v) => (p.dataPduInOrder = v));
    case 'DataSequenceInOrder':
      return booleanOr(value, true, (v) => (p.dataSequenceInOrder = v));
    case 'MaxRecvDataSegmentLength': {
      // Declarative (RFC 7143 13.12): the initiator states what it can receive; no answer is due.
      const n = parseNumber(value, U24);
      if (n === undefined) return 'Reject';
      p.maxSendDataSegmentLength = n;
      return undefined;
    }
    case 'MaxBurstLength':
      return numericMin(value, U24, TARGET_OFFER.maxBurstLength, (v) => (p.maxBurstLength = v));
    case 'FirstBurstLength':
      return numericMin(value, U24, TARGET_OFFER.firstBurstLength, (v) => (p.firstBurstLength = v));
    case 'DefaultTime2Wait':
      return numericMax(value, TIME, TARGET_OFFER.defaultTime2Wait, (v) => (p.defaultTime2Wait = v));
    case 'DefaultTime2Retain':
      return numericMin(value, TIME, TARGET_OFFER.defaultTime2Retain, (v) => (p.defaultTime2Retain = v));
    case 'MaxOutstandingR2T':
      return numericMin(value, { min: 1, max: 65535 }, TARGET_OFFER.maxOutstandingR2T, (v) => (p.maxOutstandingR2T = v));
    case 'ErrorRecoveryLevel':
      return numericMin(value, { min: 0, max: 2 }, TARGET_OFFER.errorRecoveryLevel, (v) => (p.errorRecoveryLevel = v));
    case 'iSCSIProtocolLevel': // RFC 7144 2.1: numerical, result min
      return numericMin(value, { min: 0, max: 31 }, TARGET_OFFER.protocolLevel, () => undefined);
    case 'TaskReporting': {
      // RFC 7143 13.23: list; we report the RFC 3720 way only.
      return value.split(',').includes('RFC3720') ? 'RFC3720' : 'Reject';
    }
    case 'OFMarker':
    case 'IFMarker':
      // Markers were dropped from RFC 7143 (13.25); answering No keeps older initiators working.
      return booleanAnd(value, false, () => undefined);
    case 'OFMarkInt':
    case 'IFMarkInt':
      return 'Irrelevant';
    default:
      return 'NotUnderstood';
  }
}

function parseNumber(value: string, range: Numeric): number | undefined {
  if (!/^(0|[1-9][0-9]{0,9}|0x[0-9a-fA-F]{1,8})$/.test(value)) return undefined;
  const n = Number(value);
  return n >= range.min && n <= range.max ? n : undefined;
}

function numericMin(value: string, range: Numeric, ours: number, set: (v: number) => void): string {
  const n = parseNumber(value, range);
  if (n === undefined) return 'Reject';
  const result = Math.min(n, ours);
  set(result);
  return String(result);
}

function numericMax(value: string, range: Numeric, ours: number, set: (v: number) => void): string {
  const n = parseNumber(value, range);
  if (n === undefined) return 'Reject';
  const result = Math.max(n, ours);
  set(result);
  return String(result);
}

function parseBoolean(value: string): boolean | undefined {
  return value === 'Yes' ? true : value === 'No' ? false : undefined;
}

function booleanOr(value: string, ours: boolean, set: (v: boolean) => void): string {
  const b = parseBoolean(value);
  if (b === undefined) return 'Reject';
  const result = b || ours;
  set(result);
  return result ? 'Yes' : 'No';
}

function booleanAnd(value: string, ours: boolean, set: (v: boolean) => void): string {
  const b = parseBoolean(value);
  if (b === undefined) return 'Reject';
  const result = b && ours;
  set(result);
  return result ? 'Yes' : 'No';
}
