/**
 * The codecs alone, no sockets: mutated PDUs (captured ones, both directions, digests included) go through the
 * framing reader split at random points, every PDU it yields through its family's decoder, the encoder and the
 * decoder again, Login Requests through the target's login state machine, and key=value text through the parser.
 * A finding is any exception other than the parser's TextFormatError, or a decode/encode pair that does not settle.
 */
import { isDeepStrictEqual } from 'node:util';
import { Opcode } from '../server/iscsi/constants.ts';
import { PduReader, serializePdu } from '../server/iscsi/framing.ts';
import { LoginMachine } from '../server/iscsi/login.ts';
import { opcodeOf, type Pdu } from '../server/iscsi/pdu.ts';
import { decodeDataIn, decodeDataOut, encodeDataIn, encodeDataOut } from '../server/iscsi/pdu/data.ts';
import { decodeLoginRequest, decodeLoginResponse, encodeLoginRequest, encodeLoginResponse, type LoginRequestPdu } from '../server/iscsi/pdu/login.ts';
import { decodeLogoutRequest, decodeLogoutResponse, encodeLogoutRequest, encodeLogoutResponse } from '../server/iscsi/pdu/logout.ts';
import { decodeNop, encodeNopIn, encodeNopOut } from '../server/iscsi/pdu/nop.ts';
import { decodeR2T, encodeR2T } from '../server/iscsi/pdu/r2t.ts';
import { decodeReject, encodeReject } from '../server/iscsi/pdu/reject.ts';
import { decodeScsiCommand, encodeScsiCommand } from '../server/iscsi/pdu/scsi-command.ts';
import { decodeScsiResponse, encodeScsiResponse } from '../server/iscsi/pdu/scsi-response.ts';
import {
  decodeTaskManagementRequest,
  decodeTaskManagementResponse,
  encodeTaskManagementRequest,
  encodeTaskManagementResponse,
} from '../server/iscsi/pdu/task-management.ts';
import { decodeText, encodeTextRequest, encodeTextResponse } from '../server/iscsi/pdu/text.ts';
import { parseKeys, TextFormatError } from '../server/iscsi/text-keys.ts';
import { mutate, Rng } from './fuzz-mutate.ts';
import { CAPTURED_ALL } from './fuzz-seeds.ts';

export interface Finding {
  kind: 'crash' | 'hang' | 'internal-error' | 'health' | 'codec';
  detail: string;
  /** The bytes that caused it, hex (truncated), to turn into a regression test. */
  hex: string;
}

/** decode, encode: one pair per PDU family, by opcode. */
const CODECS = new Map<number, { decode: (p: Pdu) => object; encode: (d: never) => Pdu }>([
  [Opcode.NopOut, { decode: decodeNop, encode: encodeNopOut }],
  [Opcode.NopIn, { decode: decodeNop, encode: encodeNopIn }],
  [
    Opcode.ScsiCommand,
    {
      decode: (p) => ({ ...decodeScsiCommand(p), data: p.data }),
      encode: (d: ReturnType<typeof decodeScsiCommand> & { data: Buffer }) => encodeScsiCommand(d, d.data),
    },
  ],
  [Opcode.TaskManagementRequest, { decode: decodeTaskManagementRequest, encode: encodeTaskManagementRequest }],
  [Opcode.TaskManagementResponse, { decode: decodeTaskManagementResponse, encode: encodeTaskManagementResponse }],
  [Opcode.LoginRequest, { decode: decodeLoginRequest, encode: encodeLoginRequest }],
  [Opcode.LoginResponse, { decode: decodeLoginResponse, encode: encodeLoginResponse }],
  [Opcode.TextRequest, { decode: decodeText, encode: encodeTextRequest }],
  [Opcode.TextResponse, { decode: decodeText, encode: encodeTextResponse }],
  [Opcode.ScsiDataOut, { decode: decodeDataOut, encode: encodeDataOut }],
  [Opcode.ScsiDataIn, { decode: decodeDataIn, encode: encodeDataIn }],
  [Opcode.LogoutRequest, { decode: decodeLogoutRequest, encode: encodeLogoutRequest }],
  [Opcode.LogoutResponse, { decode: decodeLogoutResponse, encode: encodeLogoutResponse }],
  [Opcode.ScsiResponse, { decode: decodeScsiResponse, encode: encodeScsiResponse }],
  [Opcode.R2T, { decode: decodeR2T, encode: encodeR2T }],
  [Opcode.Reject, { decode: decodeReject, encode: encodeReject }],
]);

const POLICY = { targetName: 'iqn.2026-11.org.iscsi-lab:fuzz', portalGroupTag: 1, sessionExists: () => false };

const CHAP = { chap: { user: 'u', secret: 'secretsecret' }, mutualChap: { user: 't', secret: 'targetsecret' } };

function loginStep(csg: number, nsg: number, transit: boolean, keys: string): LoginRequestPdu {
  return decodeLoginRequest(
    encodeLoginRequest({
      transit,
      continue: false,
      csg,
      nsg,
      versionMax: 0,
      versionMin: 0,
      isid: Buffer.alloc(6),
      tsih: 0,
      itt: 1,
      cid: 0,
      cmdSN: 1,
      expStatSN: 0,
      data: Buffer.from(
        keys
          .split(' ')
          .map((k) => `${k}\0`)
          .join(''),
      ),
    }),
  );
}

/** A login machine that offered CHAP, got CHAP_A and sent its challenge: the next step parses CHAP_N, CHAP_R, CHAP_I, CHAP_C. */
function chapMachine(): LoginMachine {
  const m = new LoginMachine({ ...POLICY, ...CHAP });
  m.step(loginStep(0, 1, false, `InitiatorName=iqn.2026-11.org.iscsi-lab:i TargetName=${POLICY.targetName} SessionType=Normal AuthMethod=CHAP`));
  m.step(loginStep(0, 1, false, 'CHAP_A=7,5'));
  return m;
}

/** One PDU through every codec that applies; throws what the codecs throw. */
function exercise(pdu: Pdu): string | undefined {
  const op = opcodeOf(pdu.bhs);
  if (op === Opcode.LoginRequest || op === Opcode.LoginResponse || op === Opcode.TextRequest || op === Opcode.TextResponse) {
    try {
      parseKeys(pdu.data);
    } catch (err) {
      if (!(err instanceof TextFormatError)) throw err;
    }
  }
  if (op === Opcode.LoginRequest) {
    const req = decodeLoginRequest(pdu);
    new LoginMachine({ ...POLICY, chap: pdu.bhs[1]! & 1 ? CHAP.chap : undefined }).step(req);
    // And as the third step of a CHAP login that went right so far (waiting for CHAP_N/CHAP_R, maybe mutual).
    chapMachine().step(req);
  }
  const codec = CODECS.get(op);
  if (!codec) return undefined;
  // Decoders keep what they understand; the encoder's output must then decode to the same thing, twice over.
  const once = codec.decode(codec.encode(codec.decode(pdu) as never));
  const again = codec.decode(codec.encode(once as never));
  if (!isDeepStrictEqual(once, again)) return `opcode 0x${op.toString(16)}: decode(encode(x)) does not settle`;
  // And the encoder's wire bytes frame back into the same PDU.
  const p = codec.encode(once as never);
  const parts = Buffer.concat(serializePdu(p, false, false));
  let back: Pdu | undefined;
  const reader = new PduReader({ pdu: (q) => (back = q), error: () => undefined });
  reader.maxDataSegmentLength = 0xffffff;
  reader.push(parts);
  if (!back || !back.bhs.equals(p.bhs) || !back.data.equals(p.data)) return `opcode 0x${op.toString(16)}: serialize/frame round trip differs`;
  return undefined;
}

/** Runs `cases` mutated PDUs through the codecs; returns what broke and how many PDUs were framed and decoded. */
export function fuzzCodecs(cases: number, rng: Rng): { findings: Finding[]; pdus: number } {
  const findings: Finding[] = [];
  let pdus = 0;
  const others = CAPTURED_ALL.map((c) => c.bytes);
  for (let i = 0; i < cases; i++) {
    const seed = rng.pick(CAPTURED_ALL);
    const bytes = rng.chance(0.05) ? rng.bytes(rng.int(400)) : mutate(seed.bytes, rng, others);
    const caught: Pdu[] = [];
    const reader = new PduReader({ pdu: (p) => caught.push(p), error: () => undefined });
    reader.headerDigest = seed.headerDigest;
    reader.dataDigest = seed.dataDigest;
    try {
      // Split at random points: framing must not care where TCP cut the stream.
      for (let at = 0; at < bytes.length;) {
        const n = 1 + rng.int(bytes.length - at);
        reader.push(bytes.subarray(at, at + n));
        at += n;
      }
      for (const p of caught) {
        pdus++;
        const problem = exercise(p);
        if (problem) findings.push({ kind: 'codec', detail: problem, hex: bytes.subarray(0, 512).toString('hex') });
      }
    } catch (err) {
      findings.push({ kind: 'codec', detail: err instanceof Error ? (err.stack ?? err.message) : String(err), hex: bytes.subarray(0, 512).toString('hex') });
    }
  }
  return { findings, pdus };
}
