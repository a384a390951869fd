/** The PDU inspector's state: the selected PDU's raw bytes, its decoded field tree, and the field <-> byte link. */
import type { FieldNode } from '../../../shared/protocol/fields.ts';
import { decodePduTree } from '../../../shared/protocol/iscsi.ts';
import type { PduTraceEvent, RawPduFrame } from '../../../shared/trace/schema.ts';
import { checkDigests, flattenTree, layoutOf, nodeAt, pathForByte, sectionOf, type DigestCheck, type FieldRow, type PduLayout } from '../lib/pdu-bytes.ts';
import { lab } from './lab.svelte.ts';
import { ui } from './ui.svelte.ts';

export class Inspector {
  /** Field under the pointer (tree row or byte). */
  hoverPath = $state<string | null>(null);
  /** Field picked by a click (tree row or byte). */
  selectedPath = $state<string | null>(null);
  collapsed = $state.raw<ReadonlySet<string>>(new Set());

  readonly event: PduTraceEvent | undefined = $derived(ui.selected);

  readonly frame: RawPduFrame | undefined = $derived.by(() => {
    const e = this.event;
    void lab.rawTick;
    return e ? lab.rawFor(e.seq) : undefined;
  });

  readonly tree: FieldNode[] = $derived.by(() => {
    const f = this.frame;
    if (!f || f.bytes.length < 48) return [];
    try {
      return decodePduTree(f.bytes, f.headerDigest, f.dataDigest);
    } catch {
      return [];
    }
  });

  readonly rows: FieldRow[] = $derived(flattenTree(this.tree, this.collapsed));

  readonly layout: PduLayout | undefined = $derived(
    this.frame && this.frame.bytes.length >= 48 ? layoutOf(this.frame.bytes, this.frame.headerDigest, this.frame.dataDigest) : undefined,
  );

  readonly digests: DigestCheck[] = $derived(this.frame && this.layout ? checkDigests(this.frame.bytes, this.layout) : []);

  /** The byte range to light up: the hovered field, else the selected one. */
  get hoverRange(): [number, number] | undefined {
    return this.rangeOf(this.hoverPath);
  }
  get selectedRange(): [number, number] | undefined {
    return this.rangeOf(this.selectedPath);
  }

  get selectedNode(): FieldNode | undefined {
    return this.selectedPath === null ? undefined : nodeAt(this.tree, this.selectedPath);
  }

  private rangeOf(path: string | null): [number, number] | undefined {
    if (path === null) return undefined;
    const n = nodeAt(this.tree, path);
    return n ? [n.offset, n.offset + n.length] : undefined;
  }

  /** Class names for one byte of the hex view. */
  byteClass(off: number): string {
    const l = this.layout;
    let c = l ? `s-${sectionOf(l, off)}` : '';
    const s = this.selectedRange;
    if (s && off >= s[0] && off < s[1]) c += ' sel';
    const h = this.hoverRange;
    if (h && off >= h[0] && off < h[1]) c += ' hover';
    return c;
  }

  /** A click on a byte selects the most specific field holding it (and opens its ancestors). */
  selectByte(off: number): string | undefined {
    const path = pathForByte(this.tree, off);
    this.selectedPath = path ?? null;
    if (path) this.expandTo(path);
    return path;
  }

  hoverByte(off: number | null): void {
    this.hoverPath = off === null ? null : (pathForByte(this.tree, off) ?? null);
  }

  toggle(path: string): void {
    const next = new Set(this.collapsed);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    this.collapsed = next;
  }

  reset(): void {
    this.hoverPath = null;
    this.selectedPath = null;
  }

  private expandTo(path: string): void {
    const parts = path.split('.');
    const next = new Set(this.collapsed);
    let changed = false;
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('.');
      if (next.delete(p)) changed = true;
    }
    if (changed) this.collapsed = next;
  }
}

export const inspector = new Inspector();
