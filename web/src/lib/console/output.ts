/** How console commands print: the terminal seen as lines, hex dumps, an I/O's outcome, a stepped I/O's state. */
import { ascAscqText, senseKeyName } from '../../../../shared/protocol/sense.ts';
import type { IoResult } from '../../../../shared/api/io.ts';
import { stepStageName, type StepState } from '../../../../shared/trace/step.ts';
import { asciiOf, hex2 } from '../format.ts';

export interface Out {
  line(s?: string): void;
  error(s: string): void;
  heading(s: string): void;
  /** The terminal's width in columns (text that must fit is wrapped to it); 80 when unknown. */
  columns?(): number;
}

export function stepLine(st: StepState): string {
  if (!st.active)
    return st.id
      ? `no stepped I/O in progress (last: ${st.io}: ${st.result ?? ''})`
      : 'no stepped I/O in progress: step read LBA or step write LBA TEXT starts one';
  return st.stage
    ? `${st.io}: held at stage ${st.stageIndex + 1}/5 ${st.stage} (${stepStageName(st.stage, st.io)})${st.detail ? ` — ${st.detail}` : ''}`
    : `${st.io}: running to the next stage`;
}

/** Hex + ASCII lines, runs of zero lines folded, at most `max` lines. */
export function dump(bytes: Uint8Array, out: Out, max: number, cut = ''): void {
  const lines = Math.ceil(bytes.length / 16);
  let shown = 0;
  let lastZero = false;
  for (let o = 0; o < bytes.length && shown < max; o += 16) {
    const row = bytes.subarray(o, o + 16);
    const zero = row.every((b) => b === 0);
    if (zero && lastZero) continue;
    lastZero = zero;
    out.line(`${o.toString(16).padStart(6, '0')}  ${[...row].map(hex2).join(' ').padEnd(47)}  ${[...row].map(asciiOf).join('')}${zero ? '  (zeros…)' : ''}`);
    shown++;
  }
  if (lines > shown) out.line(`(${bytes.length} bytes; runs of zero lines folded${shown >= max ? cut || ', output cut' : ''})`);
}

export function result(r: IoResult, out: Out): void {
  const line = `${r.ok ? 'GOOD' : r.statusText} — ${r.bytes} bytes in ${r.durationMs.toFixed(2)} ms`;
  if (r.ok) out.line(line);
  else out.error(line);
  if (r.sense) out.error(`  sense: ${senseKeyName(r.sense.key)}, ${ascAscqText(r.sense.asc, r.sense.ascq)}`);
}

/** Greedy word wrap: lines of at most `width` characters, broken at spaces only. */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!cur) cur = word;
    else if (cur.length + 1 + word.length <= width) cur += ` ${word}`;
    else {
      lines.push(cur);
      cur = word;
    }
  }
  if (cur) lines.push(cur);
  return lines;
}
