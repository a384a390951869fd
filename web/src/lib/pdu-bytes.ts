/**
 * The inspector's model of one PDU's bytes: the field tree flattened to rows with paths, the field under a byte,
 * which part of the PDU (BHS, AHS, digests, data, padding) each byte belongs to, and the digests checked.
 */
import type { FieldNode } from '../../../shared/protocol/fields.ts';
import { BHS_LENGTH, pduLengths } from '../../../shared/protocol/iscsi.ts';
import { crc32c, readDigestLE } from './bytes.ts';

export interface FieldRow {
  readonly path: string;
  readonly depth: number;
  readonly node: FieldNode;
  readonly hasChildren: boolean;
}

/** Depth-first rows; children of collapsed paths are left out. */
export function flattenTree(nodes: readonly FieldNode[], collapsed: ReadonlySet<string> = new Set(), prefix = '', depth = 0, out: FieldRow[] = []): FieldRow[] {
  nodes.forEach((node, i) => {
    const path = prefix ? `${prefix}.${i}` : String(i);
    const hasChildren = !!node.children?.length;
    out.push({ path, depth, node, hasChildren });
    if (hasChildren && !collapsed.has(path)) flattenTree(node.children!, collapsed, path, depth + 1, out);
  });
  return out;
}

export function nodeAt(nodes: readonly FieldNode[], path: string): FieldNode | undefined {
  let cur: FieldNode | undefined;
  let list: readonly FieldNode[] | undefined = nodes;
  for (const part of path.split('.')) {
    cur = list?.[Number(part)];
    if (!cur) return undefined;
    list = cur.children;
  }
  return cur;
}

const contains = (n: FieldNode, off: number): boolean => off >= n.offset && off < n.offset + n.length;

/**
 * The most specific field holding byte `off`. Where several bit fields share the byte (Flags: F, R, W, ATTR) the
 * byte belongs to all of them, so the answer is their parent.
 */
export function pathForByte(nodes: readonly FieldNode[], off: number, prefix = ''): string | undefined {
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (!contains(n, off)) continue;
    const path = prefix ? `${prefix}.${i}` : String(i);
    const kids = (n.children ?? []).map((c, j) => [c, j] as const).filter(([c]) => contains(c, off));
    if (kids.length === 1) return pathForByte(n.children!, off, path) ?? path;
    return path;
  }
  return undefined;
}

type ByteSection = 'bhs' | 'ahs' | 'hdigest' | 'data' | 'pad' | 'ddigest' | 'beyond';

export interface PduLayout {
  readonly bhs: [number, number];
  readonly ahs: [number, number];
  readonly hdigest: [number, number];
  readonly data: [number, number];
  readonly pad: [number, number];
  readonly ddigest: [number, number];
  readonly total: number;
}

export function layoutOf(raw: Uint8Array, headerDigest: boolean, dataDigest: boolean): PduLayout {
  const L = pduLengths(raw.subarray(0, BHS_LENGTH), headerDigest, dataDigest);
  let o = 0;
  const take = (n: number): [number, number] => {
    const r: [number, number] = [o, o + n];
    o += n;
    return r;
  };
  return {
    bhs: take(L.bhs),
    ahs: take(L.ahs),
    hdigest: take(L.headerDigest),
    data: take(L.data),
    pad: take(L.padding),
    ddigest: take(L.dataDigest),
    total: L.total,
  };
}

export function sectionOf(layout: PduLayout, off: number): ByteSection {
  for (const k of ['bhs', 'ahs', 'hdigest', 'data', 'pad', 'ddigest'] as const) {
    const [a, b] = layout[k];
    if (off >= a && off < b) return k;
  }
  return 'beyond';
}

export interface DigestCheck {
  readonly name: 'HeaderDigest' | 'DataDigest';
  readonly wire: number;
  /** Undefined when the bytes it covers were not all kept (truncated raw). */
  readonly computed: number | undefined;
  readonly ok: boolean | undefined;
}

/** RFC 7143 11.2.1 / B.4: the header digest covers BHS + AHS, the data digest the data segment with its padding. */
export function checkDigests(raw: Uint8Array, layout: PduLayout): DigestCheck[] {
  const out: DigestCheck[] = [];
  const check = (name: DigestCheck['name'], covered: [number, number], at: [number, number]): void => {
    if (at[1] === at[0]) return;
    if (at[1] > raw.length) {
      out.push({ name, wire: 0, computed: undefined, ok: undefined });
      return;
    }
    const wire = readDigestLE(raw, at[0]);
    const computed = crc32c(raw, covered[0], covered[1]);
    out.push({ name, wire, computed, ok: wire === computed });
  };
  check('HeaderDigest', [0, layout.ahs[1]], layout.hdigest);
  check('DataDigest', [layout.data[0], layout.pad[1]], layout.ddigest);
  return out;
}
