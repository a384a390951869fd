import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** CHAP_A algorithm numbers (RFC 7143 12.1.3; 7 SHA-256 and 8 SHA3-256 from the IANA registry). */
const CHAP_ALGORITHMS: Readonly<Record<number, string>> = { 5: 'md5', 6: 'sha1', 7: 'sha256', 8: 'sha3-256' };

export interface ChapCredentials {
  user: string;
  secret: string;
}

/**
 * The first algorithm of the initiator's CHAP_A list that we support, or undefined if none is. The list is in the
 * initiator's order of preference and the responder MUST take the first value it supports (RFC 7143 6.2.1, 12.1.3):
 * an initiator that lists 5,6,7,8 computes MD5 responses, and a target that picked SHA-256 would fail its login.
 */
export function pickAlgorithm(list: string): number | undefined {
  for (const item of list.split(',')) {
    const a = /^\d{1,3}$/.test(item.trim()) ? Number(item.trim()) : NaN;
    if (CHAP_ALGORITHMS[a] !== undefined) return a;
  }
  return undefined;
}

/** Decodes a binary value: `0x` hex or `0b` base64 (RFC 7143 6.1). Undefined if malformed. */
export function decodeBinary(value: string): Buffer | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(value)) {
    let hex = value.slice(2);
    if (hex.length % 2) hex = '0' + hex;
    return Buffer.from(hex, 'hex');
  }
  if (/^0[bB][A-Za-z0-9+/]+={0,2}$/.test(value)) return Buffer.from(value.slice(2), 'base64');
  return undefined;
}

export const encodeHex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex');

/** Decodes CHAP_I: decimal, hex or base64, one byte (RFC 1994 identifier). */
export function decodeIdentifier(value: string): number | undefined {
  if (/^[0-9]{1,3}$/.test(value)) {
    const n = Number(value);
    return n <= 255 ? n : undefined;
  }
  const b = decodeBinary(value);
  if (!b || b.length === 0 || b.length > 4) return undefined;
  const n = b.readUIntBE(0, b.length);
  return n <= 255 ? n : undefined;
}

/** RFC 1994 4.1: Response = H(Identifier || secret || Challenge). */
export function chapResponse(algorithm: number, id: number, secret: string, challenge: Uint8Array): Buffer {
  return createHash(CHAP_ALGORITHMS[algorithm]!)
    .update(Buffer.from([id]))
    .update(secret, 'utf8')
    .update(challenge)
    .digest();
}

const digestLength = (algorithm: number): number => createHash(CHAP_ALGORITHMS[algorithm]!).digest().length;

export function newChallenge(algorithm: number): { id: number; challenge: Buffer } {
  // A challenge at least as long as the digest, so guessing it is no easier than inverting the hash.
  return { id: randomBytes(1)[0]!, challenge: randomBytes(Math.max(16, digestLength(algorithm))) };
}

export function responsesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
