import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** CHAP_A algorithm numbers (RFC 7143 12.1.3; 7 SHA-256 and 8 SHA3-256 from the IANA registry). */
export const CHAP_ALGORITHMS: Readonly<Record<number, string>> = { 5: 'md5', 6: 'sha1', 7: 'sha256', 8: 'sha3-256' };
/** Our order of preference when the initiator offers several. */
const PREFERENCE = [7, 8, 6, 5];

export interface ChapCredentials {
  user: string;
  secret: string;
}

/** Picks the strongest algorithm in the initiator's CHAP_A list, or undefined if none is known. */
export function pickAlgorithm(list: string): number | undefined {
  const offered = new Set(list.split(',').map((s) => Number(s.trim())));
  return PREFERENCE.find((a) => offered.has(a));
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
  return createHash(CHAP_ALGORITHMS[algorithm]!).update(Buffer.from([id])).update(secret, 'utf8').update(challenge).digest();
}

export const digestLength = (algorithm: number): number => createHash(CHAP_ALGORITHMS[algorithm]!).digest().length;

export function newChallenge(algorithm: number): { id: number; challenge: Buffer } {
  // A challenge at least as long as the digest, so guessing it is no easier than inverting the hash.
  return { id: randomBytes(1)[0]!, challenge: randomBytes(Math.max(16, digestLength(algorithm))) };
}

export function responsesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
