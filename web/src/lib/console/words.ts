/** A console line as words, and the words as numbers and options; a mistake is a UsageError the console prints with the command's usage. */
import { parseNumber } from '../format.ts';

export class UsageError extends Error {}

/** Splits a line into words; "double" or 'single' quotes keep spaces. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

export function num(s: string | undefined, what: string): number {
  const n = s === undefined ? undefined : parseNumber(s);
  if (n === undefined) throw new UsageError(`${what} must be a number${s === undefined ? ' (missing)' : `, not "${s}"`}`);
  return n;
}

export function options(args: string[]): { pos: string[]; lun: number; fua: boolean; blocks?: number } {
  const pos: string[] = [];
  let lun = 0;
  let fua = false;
  let blocks: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--lun') lun = num(args[++i], 'LUN');
    else if (a === '--blocks') blocks = num(args[++i], 'BLOCKS');
    else if (a === '--fua') fua = true;
    else pos.push(a);
  }
  return blocks === undefined ? { pos, lun, fua } : { pos, lun, fua, blocks };
}
