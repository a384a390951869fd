/** Display helpers: times, durations, sizes, tags. Pure functions, no DOM. */

/** Trace time (ns since the trace began) as seconds with microseconds: "12.345678". */
export function fmtTraceTime(ns: number): string {
  return (ns / 1e9).toFixed(6);
}

/** A duration in the unit that reads best: "850 ns", "12.3 µs", "4.56 ms", "1.20 s". */
export function fmtDuration(ns: number | undefined): string {
  if (ns === undefined || !Number.isFinite(ns)) return '';
  const a = Math.abs(ns);
  if (a < 1_000) return `${Math.round(ns)} ns`;
  if (a < 1_000_000) return `${(ns / 1_000).toFixed(a < 10_000 ? 2 : 1)} µs`;
  if (a < 1_000_000_000) return `${(ns / 1_000_000).toFixed(a < 10_000_000 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n % 1024 ? 1 : 0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export const hex2 = (n: number): string => (n & 0xff).toString(16).padStart(2, '0');
export const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** Printable ASCII or a dot, as hex editors show it. */
export const asciiOf = (b: number): string => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.');

export function percent(part: number, whole: number): string {
  if (whole <= 0) return part > 0 ? '∞' : '0%';
  const p = (part / whole) * 100;
  return `${p < 10 ? p.toFixed(2) : p.toFixed(1)}%`;
}

/** Parses "0x1f", "1f" (with hex=true), or "31". Undefined for empty or invalid. */
export function parseNumber(text: string, hexDefault = false): number | undefined {
  const t = text.trim();
  if (!t) return undefined;
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t.slice(2), 16);
  if (hexDefault && /^[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  if (/^\d+$/.test(t)) return parseInt(t, 10);
  return undefined;
}
