/**
 * A decoded field tree: every node names a byte range of the PDU (offset and length from the first byte of the
 * BHS) so the UI can highlight the bytes of the field under the pointer. Bit fields carry a mask over the first
 * byte of their range.
 */
export interface FieldNode {
  /** RFC 7143 / T10 name as Wireshark shows it, e.g. "ExpectedDataTransferLength", "CmdSN", "LOGICAL BLOCK ADDRESS". */
  readonly name: string;
  /** First byte, from the start of the PDU (or of the structure the caller decoded). */
  readonly offset: number;
  readonly length: number;
  /** For bit fields: the bits of the byte at `offset` this field uses. */
  readonly mask?: number;
  /** The raw value: numbers for integers up to 53 bits, strings for wider or textual values, booleans for flags. */
  readonly value: number | string | boolean;
  /** Human text, e.g. "0x00000010", "READ(10)", "Security -> Operational". */
  readonly display: string;
  readonly children?: readonly FieldNode[];
}

/** Moves a tree by `delta` bytes (a CDB decoded alone, placed at BHS offset 32). */
export function shiftFields(nodes: readonly FieldNode[], delta: number): FieldNode[] {
  return nodes.map((n) => ({ ...n, offset: n.offset + delta, children: n.children ? shiftFields(n.children, delta) : undefined }));
}

/** Depth-first search by name (tests, UI lookups). */
export function findField(nodes: readonly FieldNode[], name: string): FieldNode | undefined {
  for (const n of nodes) {
    if (n.name === name) return n;
    const c = n.children && findField(n.children, name);
    if (c) return c;
  }
  return undefined;
}
