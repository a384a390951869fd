// One iSCSI wire vocabulary (shared/protocol/iscsi-opcodes.ts): the names agree with the table Wireshark's words
// come from, and no code outside shared/protocol compares an iSCSI opcode with a bare number or keeps its own copy.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ISCSI_OPCODE_MASK, ISCSI_OPCODE_NAMES, IscsiOpcode, iscsiOpcodeOf, isInitiatorOpcode } from '../../shared/protocol/iscsi-opcodes.ts';
import { Opcode } from '../../server/iscsi/constants.ts';

const ROOT = resolve(import.meta.dirname, '../..');
/** server/scsi speaks SCSI: its "opcodes" are CDB operation codes, not iSCSI's. */
const SCANNED = ['server', 'web/src', 'shared', 'e2e'];
const EXEMPT = ['shared/protocol/', 'server/scsi/'];

const RULES: readonly { what: string; re: RegExp }[] = [
  { what: 'an iSCSI opcode compared with a number', re: /(?<!scsi\??\.|cdb\w*)\bopcode\)?\s*(?:===?|!==?|<=?|>=?)\s*(?:0x[0-9a-fA-F]+|\d+)\b/ },
  { what: 'the opcode mask written as a number', re: /\[(?:0|Bhs\.Opcode)\]!?\s*&\s*0x3f\b/ },
  {
    what: 'a local copy of an iSCSI opcode',
    re: /\bconst OP_(?:NOP|SCSI_COMMAND|SCSI_RESPONSE|DATA_IN|DATA_OUT|LOGIN|TEXT|LOGOUT|R2T|REJECT|TMF|SNACK|ASYNC)\w* = 0x/,
  },
];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(rel);
    return /\.(ts|svelte)$/.test(e.name) ? [rel] : [];
  });
}

/** `file:line: what` for every line of `text` a rule matches. */
function findBareOpcodes(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const r of RULES) if (r.re.test(line)) out.push(`${file}:${i + 1}: ${r.what}: ${line.trim()}`);
  });
  return out;
}

describe('the iSCSI opcode vocabulary', () => {
  it('names every opcode it defines, with the names Wireshark uses, and the server codecs use the same numbers', () => {
    for (const [key, value] of Object.entries(IscsiOpcode)) {
      expect(ISCSI_OPCODE_NAMES[value], key).toBeDefined();
      expect(Opcode[key as keyof typeof Opcode]).toBe(value);
    }
    expect(ISCSI_OPCODE_NAMES[IscsiOpcode.ScsiDataIn]).toBe('SCSI Data-In');
    expect(ISCSI_OPCODE_NAMES[IscsiOpcode.R2T]).toBe('R2T');
    // Every named opcode but the one vendor-specific code is in the vocabulary.
    const named = Object.keys(ISCSI_OPCODE_NAMES)
      .map(Number)
      .filter((n) => !ISCSI_OPCODE_NAMES[n]!.startsWith('Vendor'));
    expect(new Set(named)).toEqual(new Set(Object.values(IscsiOpcode)));
    expect(iscsiOpcodeOf(Uint8Array.of(0x40 | IscsiOpcode.LoginRequest))).toBe(IscsiOpcode.LoginRequest);
    expect(ISCSI_OPCODE_MASK).toBe(0x3f);
    expect(isInitiatorOpcode(IscsiOpcode.Snack)).toBe(true);
    expect(isInitiatorOpcode(IscsiOpcode.NopIn)).toBe(false);
  });

  it('the scan finds what it looks for (so an empty result below means something)', () => {
    const planted = ['if (e.opcode === 0x21) x();', 'const op = bhs[0]! & 0x3f;', 'const OP_DATA_IN = 0x25;', 'if (e.scsi.opcode === 0x28) x();'];
    expect(findBareOpcodes('planted.ts', planted.join('\n')).map((l) => l.split(':')[1])).toEqual(['1', '2', '3']);
  });

  it('has no bare iSCSI opcode outside shared/protocol', () => {
    const files = SCANNED.flatMap(sources).filter((f) => !EXEMPT.some((x) => f.startsWith(x)));
    expect(files.length).toBeGreaterThan(150);
    const found = files.flatMap((f) => findBareOpcodes(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });
});
