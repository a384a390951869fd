/**
 * key=value text of Login and Text PDUs (RFC 7143 6.1), parsed leniently for display: pairs in order with their
 * byte ranges inside the data segment. Nothing throws; malformed items come back with `error`.
 */
export interface TextPair {
  readonly key: string;
  readonly value: string;
  /** Byte offset of the pair in the data segment, and its length without the NUL. */
  readonly offset: number;
  readonly length: number;
  readonly error?: string;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

export function parseTextPairs(data: Uint8Array): TextPair[] {
  const out: TextPair[] = [];
  let start = 0;
  for (let i = 0; i <= data.length; i++) {
    if (i < data.length && data[i] !== 0) continue;
    if (i > start) {
      const item = decoder.decode(data.subarray(start, i));
      const eq = item.indexOf('=');
      if (eq <= 0) out.push({ key: item, value: '', offset: start, length: i - start, error: 'no "=" in text pair' });
      else out.push({ key: item.slice(0, eq), value: item.slice(eq + 1), offset: start, length: i - start });
    }
    start = i + 1;
  }
  return out;
}
