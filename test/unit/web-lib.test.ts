/**
 * The UI's pure logic (web/src/lib): digest checks, the byte -> field link, the encapsulation stages, the console's
 * line editor and command parsing. The rendering itself is covered by the Playwright specs in e2e/.
 */
import { describe, expect, it } from 'vitest';
import { decodePduTree } from '../../shared/protocol/iscsi.ts';
import { PduDescriber } from '../../shared/trace/describe.ts';
import { crc32c } from '../../web/src/lib/bytes.ts';
import { checkDigests, flattenTree, layoutOf, pathForByte, nodeAt } from '../../web/src/lib/pdu-bytes.ts';
import { buildStages, MSS } from '../../web/src/lib/layers.ts';
import { LineEditor } from '../../web/src/lib/console/line-editor.ts';
import { completions, tokenize } from '../../web/src/lib/console/commands.ts';

/** A SCSI Command PDU: WRITE(10) LBA 8, 8 blocks, ITT 0x10, with 4096 bytes of immediate data 0x5a. */
function writeCommand(headerDigest = false, dataDigest = false, dataLength = 4096): Uint8Array {
  const hd = headerDigest ? 4 : 0;
  const dd = dataDigest ? 4 : 0;
  const pdu = new Uint8Array(48 + hd + dataLength + dd);
  const dv = new DataView(pdu.buffer);
  pdu[0] = 0x01;
  pdu[1] = 0xa1; // F, W, SIMPLE
  pdu[5] = (dataLength >> 16) & 0xff;
  dv.setUint16(6, dataLength & 0xffff);
  dv.setUint32(16, 0x10);
  dv.setUint32(20, 8 * 512);
  dv.setUint32(24, 7);
  pdu[32] = 0x2a; // WRITE(10)
  dv.setUint32(34, 8);
  dv.setUint16(39, 8);
  pdu.fill(0x5a, 48 + hd, 48 + hd + dataLength);
  if (headerDigest) dv.setUint32(48, crc32c(pdu, 0, 48), true);
  if (dataDigest) dv.setUint32(48 + hd + dataLength, crc32c(pdu, 48 + hd, 48 + hd + dataLength), true);
  return pdu;
}

describe('digests (RFC 7143 B.4)', () => {
  it('CRC32C of 32 zero bytes is 0x8a9136aa', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });

  it('checks header and data digests, and flags a corrupted one', () => {
    const pdu = writeCommand(true, true);
    const layout = layoutOf(pdu, true, true);
    expect(checkDigests(pdu, layout).map((d) => [d.name, d.ok])).toEqual([
      ['HeaderDigest', true],
      ['DataDigest', true],
    ]);
    pdu[60] ^= 1;
    expect(checkDigests(pdu, layout).map((d) => [d.name, d.ok])).toEqual([
      ['HeaderDigest', true],
      ['DataDigest', false],
    ]);
  });

  it('does not claim a check it cannot make on truncated bytes', () => {
    const pdu = writeCommand(false, true).subarray(0, 1000);
    const [d] = checkDigests(pdu, layoutOf(pdu, false, true));
    expect(d).toMatchObject({ name: 'DataDigest', ok: undefined });
  });
});

describe('byte <-> field', () => {
  const tree = decodePduTree(writeCommand(), false, false);

  it('finds the most specific field for a byte', () => {
    const name = (off: number) => nodeAt(tree, pathForByte(tree, off)!)!.name;
    expect(name(17)).toBe('InitiatorTaskTag');
    expect(name(35)).toBe('LOGICAL BLOCK ADDRESS');
    expect(name(32)).toBe('OPERATION CODE');
    // Byte 1 holds several bit fields: the byte belongs to all of them, so the answer is Flags.
    expect(name(1)).toBe('Flags');
    expect(name(48 + 100)).toBe('DataSegment');
  });

  it('flattens the tree with paths and respects collapsed nodes', () => {
    const rows = flattenTree(tree);
    const cdb = rows.find((r) => r.node.name === 'CDB')!;
    expect(rows.some((r) => r.path.startsWith(`${cdb.path}.`))).toBe(true);
    const collapsed = flattenTree(tree, new Set([cdb.path]));
    expect(collapsed.some((r) => r.path.startsWith(`${cdb.path}.`))).toBe(false);
  });
});

describe('encapsulation stages', () => {
  it('walks a WRITE from the application to the wire and back with overheads and times', () => {
    const describer = new PduDescriber();
    const tcp = { src: '127.0.0.1', srcPort: 40000, dst: '127.0.0.1', dstPort: 3260 };
    const back = { src: '127.0.0.1', srcPort: 3260, dst: '127.0.0.1', dstPort: 40000 };
    const cmd = writeCommand();
    const resp = new Uint8Array(48);
    resp[0] = 0x21;
    resp[1] = 0x80;
    new DataView(resp.buffer).setUint32(16, 0x10);
    const base = { wallMs: 0, connectionId: 1, tsih: 1, headerDigest: false, dataDigest: false };
    const e1 = describer.describe({
      ...base,
      seq: 1,
      timeNs: 1_000_000,
      direction: 'i2t',
      tcp,
      bhs: cmd.subarray(0, 48),
      data: cmd.subarray(48),
      rawLength: cmd.length,
    });
    const e2 = describer.describe({ ...base, seq: 2, timeNs: 1_400_000, direction: 't2i', tcp: back, bhs: resp, data: new Uint8Array(0), rawLength: 48 });
    const raws = new Map([
      [1, cmd],
      [2, resp],
    ]);
    const stages = buildStages({
      pdus: [e1, e2],
      scsi: e1.scsi!,
      blockSize: 512,
      raw: (s) => raws.get(s),
      taskId: e1.taskId,
      storeEvents: [
        {
          type: 'store',
          seq: 3,
          timeNs: 1_300_000,
          wallMs: 0,
          kind: 'write',
          lun: 0,
          lba: 8,
          blocks: 8,
          fua: false,
          durationNs: 250_000,
          taskId: e1.taskId,
          cache: {
            policy: 'lru',
            mode: 'write-back',
            ranges: [{ lba: 8, blocks: 8, outcome: 'write-allocate' }],
            lookupMs: 0.01,
            storeReadMs: 0,
            storeWriteMs: 0,
            flushMs: 0,
          },
        },
        // Same LUN and LBA, another task: joined by identity, so never taken for this one.
        { type: 'store', seq: 4, timeNs: 1_350_000, wallMs: 0, kind: 'write', lun: 0, lba: 8, blocks: 8, fua: false, durationNs: 999, taskId: 999 },
      ],
    });
    // Causal order: the command goes out (iSCSI, TCP, IP, Ethernet), the target works, the answer comes back.
    expect(stages.map((s) => s.id)).toEqual([
      'app',
      'fs',
      'scsi',
      'iscsi-out',
      'tcp-out',
      'ip-out',
      'eth-out',
      'target',
      'cache',
      'store',
      'iscsi-back',
      'net-back',
      'done',
    ]);
    const by = Object.fromEntries(stages.map((s) => [s.id, s]));
    expect(by.scsi!.overhead).toBe(10);
    expect(by['iscsi-out']!.overhead).toBe(48 - 10);
    // The pcapng export's model: each PDU its own segments of at most 1460 bytes, 20-byte TCP and IP headers.
    const segments = Math.ceil((48 + 4096) / MSS);
    expect(MSS).toBe(1460);
    expect(by['tcp-out']!.overhead).toBe(segments * 20);
    expect(by['ip-out']!.overhead).toBe(segments * 20);
    expect(by['eth-out']!.overhead).toBe(segments * 14);
    expect(by['tcp-out']!.trip).toMatchObject({
      srcPort: 40000,
      dstPort: 3260,
      framing: { segments, tcpPayload: 48 + 4096, frameBytes: 48 + 4096 + segments * 54 },
    });
    expect(by['net-back']!.trip).toMatchObject({ srcPort: 3260, dstPort: 40000, framing: { segments: 1, tcpPayload: 48, frameBytes: 48 + 54 } });
    expect(by.cache!.explain).toContain('write-allocate');
    expect(by.store!.durationNs).toBe(250_000);
    expect(by.done!.durationNs).toBe(400_000);
    expect(by.scsi!.hex[0]!.bytes[0]).toBe(0x2a);
  });
});

describe('console', () => {
  it('edits a line: typing, history, completion, Ctrl+C', () => {
    let screen = '';
    const lines: string[] = [];
    const ed = new LineEditor({ write: (s) => (screen += s), prompt: '> ', complete: completions, onSubmit: (l) => lines.push(l), onClearScreen: () => {} });
    ed.showPrompt();
    ed.feed('help\r');
    ed.feed('readc\t');
    expect(ed.line).toBe('readcap ');
    ed.feed('0\r');
    ed.feed('\x1b[A');
    expect(ed.line).toBe('readcap 0');
    ed.feed('\x1b[A');
    expect(ed.line).toBe('help');
    ed.feed('\x1b[B\x1b[B');
    expect(ed.line).toBe('');
    ed.feed('abc\x7f\x7fx\x03');
    expect(ed.line).toBe('');
    expect(lines).toEqual(['help', 'readcap 0']);
    expect(screen).toContain('^C');
  });

  it('keeps keys typed while a command runs and replays them at the next prompt; Ctrl+C drops them', () => {
    let screen = '';
    const lines: string[] = [];
    const ed: LineEditor = new LineEditor({
      write: (s) => (screen += s),
      prompt: '> ',
      complete: completions,
      onClearScreen: () => {},
      onSubmit: (l) => {
        lines.push(l);
        ed.busy = true; // a command that answers later
      },
    });
    ed.showPrompt();
    ed.feed('read 200\rre'); // typed on before the READ answered
    ed.feed('adc\t');
    expect(ed.line).toBe('');
    ed.busy = false;
    ed.showPrompt();
    expect(ed.line).toBe('readcap ');
    ed.feed('\r');
    ed.feed('junk');
    ed.feed('\x03');
    ed.busy = false;
    ed.showPrompt();
    expect(ed.line).toBe('');
    expect(lines).toEqual(['read 200', 'readcap ']);
    expect(screen).toContain('^C');
  });

  it('tokenizes with quotes and completes subcommands', () => {
    expect(tokenize(`write 8 "hello  world" --fua`)).toEqual(['write', '8', 'hello  world', '--fua']);
    expect(completions('tr')).toEqual(['trace']);
    expect(completions('trace p')).toEqual(['pause']);
    expect(completions('capture ')).toEqual(['pcapng', 'jsonl', 'open']);
    expect(completions('re').sort()).toEqual(['read', 'readcap', 'replay']);
  });
});

describe('console help', () => {
  it('fits every line in the terminal and breaks only between words, at any width', async () => {
    const { helpLines, wrapWords } = await import('../../web/src/lib/console/commands.ts');
    const words = (ls: string[]) => ls.join(' ').split(/\s+/).filter(Boolean).sort();
    expect(wrapWords('one two three', 7)).toEqual(['one two', 'three']);
    expect(wrapWords('unbreakable-word', 5)).toEqual(['unbreakable-word']);
    for (const cols of [40, 60, 80, 100, 160, 220]) {
      const lines = helpLines(cols);
      for (const l of lines) expect(l.length, `${cols} columns: "${l}"`).toBeLessThan(cols);
      // The words are those of the unwrapped list: no word was cut in two.
      expect(words(lines)).toEqual(words(helpLines(10_000)));
      expect(words(lines)).toContain('write-back|write-through]');
    }
  });
});

describe('bit masks', () => {
  it('draws eight positions per byte, bit 7 first', async () => {
    const { bitMaskText } = await import('../../web/src/lib/bit-mask.ts');
    expect(bitMaskText(0x40)).toBe('.•......');
    expect(bitMaskText(0x0f)).toBe('....••••');
    expect(bitMaskText(0x3f)).toHaveLength(8);
    expect(() => bitMaskText(0x100)).toThrow(RangeError);
  });
});

describe('POST /api/io rules shared by gateway, composer and console', () => {
  it('refuses write data longer than the blocks, naming both sizes; shorter or equal fits', async () => {
    const { writeDataTooLong } = await import('../../shared/api/io.ts');
    expect(writeDataTooLong(512, 1, 512)).toBeUndefined();
    expect(writeDataTooLong(1, 2, 512)).toBeUndefined();
    expect(writeDataTooLong(513, 1, 512)).toBe('write data is 513 bytes but 1 block(s) of 512 bytes hold 512: ask for 2 blocks or send less data');
    expect(writeDataTooLong(4097, 1, 4096)).toContain('ask for 2 blocks');
  });
});
