/**
 * The key=value text format of Login and Text PDUs (RFC 7143 6.1): UTF-8 pairs, each ended by a NUL.
 * Order matters (answers follow offers), and a key may not repeat, so pairs are kept as an ordered list.
 */
export type KeyValue = readonly [key: string, value: string];

export class TextFormatError extends Error {}

const MAX_KEY_LENGTH = 63; // RFC 7143 6.1
const MAX_VALUE_LENGTH = 8192; // RFC 7143 6.1: text values up to 8192 bytes (binary values may be longer)
const MAX_BINARY_VALUE_LENGTH = 65536;

/**
 * `repeats`: keys may repeat. Only a SendTargets answer repeats them (RFC 7143 Appendix C: TargetName and
 * TargetAddress once per target and portal); everywhere else a repeated key is an error.
 */
export function parseKeys(data: Uint8Array, repeats = false): KeyValue[] {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  const out: KeyValue[] = [];
  const seen = new Set<string>();
  for (const item of text.split('\0')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new TextFormatError(`malformed text pair ${JSON.stringify(item.slice(0, 80))}`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key.length > MAX_KEY_LENGTH) throw new TextFormatError(`key too long (${key.length} > ${MAX_KEY_LENGTH})`);
    const binary = /^0[xXbB]/.test(value);
    if (value.length > (binary ? MAX_BINARY_VALUE_LENGTH : MAX_VALUE_LENGTH)) throw new TextFormatError(`value of ${key} too long (${value.length} bytes)`);
    if (seen.has(key) && !repeats) throw new TextFormatError(`key ${key} sent twice`);
    seen.add(key);
    out.push([key, value]);
  }
  return out;
}

export function encodeKeys(pairs: readonly KeyValue[]): Buffer {
  if (pairs.length === 0) return Buffer.alloc(0);
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}
