import { readFile, writeFile, open } from 'node:fs/promises';
import { InitiatorSession } from '../initiator/session.ts';
import { parseIscsiUrl, type IscsiUrl } from '../initiator/url.ts';
import { clearUnitAttentions, expectGood, inquiry, read16, readCapacity16, reportLuns, synchronizeCache10, write16 } from '../initiator/scsi.ts';
import type { LoginOptions } from '../initiator/login.ts';
import { UsageError } from '../config/usage-error.ts';

/** `iscsi-lab ls|inq|readcap|read|write|dd`: the gateway's TypeScript initiator, mirroring libiscsi's tools. */

const DEFAULT_INITIATOR = 'iqn.2026-11.org.iscsi-lab:initiator';

interface Flags {
  positional: string[];
  values: Map<string, string>;
  switches: Set<string>;
}

const VALUE_FLAGS = new Set([
  '--lba',
  '--blocks',
  '--hex',
  '--text',
  '--file',
  '--initiator-name',
  '--mutual-chap',
  '--evpd',
  '--if',
  '--of',
  '--count',
  '--out',
]);
const SWITCH_FLAGS = new Set(['--fua', '--header-digest', '--data-digest', '--raw', '--initial-r2t', '--no-immediate-data']);

function parseFlags(argv: readonly string[]): Flags {
  const f: Flags = { positional: [], values: new Map(), switches: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (VALUE_FLAGS.has(name)) {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      f.values.set(name, v);
    } else if (SWITCH_FLAGS.has(a)) f.switches.add(a);
    else if (a.startsWith('--')) throw new UsageError(`unknown flag ${a}`);
    else f.positional.push(a);
  }
  return f;
}

function loginOptions(url: IscsiUrl, f: Flags, discovery = false): LoginOptions {
  const mutual = f.values.get('--mutual-chap');
  let mutualChap: LoginOptions['mutualChap'];
  if (mutual) {
    const i = mutual.indexOf(':');
    if (i <= 0) throw new UsageError('--mutual-chap needs USER:SECRET');
    mutualChap = { user: mutual.slice(0, i), secret: mutual.slice(i + 1) };
  }
  return {
    host: url.host,
    port: url.port,
    targetName: discovery ? undefined : url.targetName,
    initiatorName: f.values.get('--initiator-name') ?? DEFAULT_INITIATOR,
    chap: url.user !== undefined ? { user: url.user, secret: url.secret ?? '' } : undefined,
    mutualChap,
    headerDigest: f.switches.has('--header-digest'),
    dataDigest: f.switches.has('--data-digest'),
    initialR2T: f.switches.has('--initial-r2t'),
    immediateData: !f.switches.has('--no-immediate-data'),
  };
}

function needUrl(f: Flags, withTarget: boolean): IscsiUrl {
  const text = f.positional[0];
  if (!text) throw new UsageError('an iSCSI URL is required (iscsi://host[:port]/target-iqn/lun)');
  const url = parseIscsiUrl(text);
  if (withTarget && !url.targetName) throw new UsageError(`${text} names no target: iscsi://host[:port]/target-iqn/lun`);
  return url;
}

function int(f: Flags, name: string, fallback: number): number {
  const v = f.values.get(name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

async function withSession<T>(url: IscsiUrl, f: Flags, fn: (s: InitiatorSession) => Promise<T>): Promise<T> {
  const s = await InitiatorSession.login(loginOptions(url, f));
  try {
    await clearUnitAttentions(s, url.lun);
    return await fn(s);
  } finally {
    await s.logout().catch(() => undefined);
  }
}

export function hexDump(data: Uint8Array, base = 0): string {
  const lines: string[] = [];
  for (let off = 0; off < data.length; off += 16) {
    const row = data.subarray(off, off + 16);
    const hex = [...row]
      .map((b) => b.toString(16).padStart(2, '0'))
      .join(' ')
      .padEnd(47);
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(base + off).toString(16).padStart(8, '0')}  ${hex}  |${ascii}|`);
  }
  return lines.join('\n');
}

export async function runInitiatorCommand(command: string, argv: readonly string[], out: (s: string) => void): Promise<number> {
  const f = parseFlags(argv);
  switch (command) {
    case 'ls': {
      const url = needUrl(f, false);
      const d = await InitiatorSession.login(loginOptions(url, f, true));
      let pairs;
      try {
        pairs = await d.text([['SendTargets', 'All']]);
      } finally {
        await d.logout().catch(() => undefined);
      }
      let current = '';
      for (const [k, v] of pairs) {
        if (k === 'TargetName') {
          current = v;
          out(`Target: ${v}`);
        } else if (k === 'TargetAddress') out(`  Portal: ${v}`);
      }
      if (current) {
        const targets = pairs.filter(([k]) => k === 'TargetName').map(([, v]) => v);
        for (const t of targets) {
          await withSession({ ...url, targetName: t }, f, async (s) => {
            for (const lun of await reportLuns(s)) {
              await clearUnitAttentions(s, lun);
              const cap = await readCapacity16(s, lun).catch(() => undefined);
              const size = cap
                ? `${cap.blocks} blocks of ${cap.blockSize} bytes (${Number(cap.blocks * BigInt(cap.blockSize)) / 1048576} MiB)${cap.thin ? ', thin' : ''}`
                : 'no medium';
              out(`  LUN ${lun}: ${size}`);
            }
          });
        }
      }
      return 0;
    }
    case 'inq': {
      const url = needUrl(f, true);
      const page = f.values.has('--evpd') ? Number.parseInt(f.values.get('--evpd')!, 16) : undefined;
      const data = await withSession(url, f, (s) => inquiry(s, url.lun, page));
      if (page !== undefined || f.switches.has('--raw')) {
        out(hexDump(data));
        return 0;
      }
      const text = (a: number, b: number) => data.subarray(a, b).toString('latin1').trim();
      out(`Peripheral device type: 0x${(data[0]! & 0x1f).toString(16)}${(data[0]! & 0x1f) === 0 ? ' (direct access block device)' : ''}`);
      out(`Removable: ${(data[1]! & 0x80) !== 0 ? 'yes' : 'no'}`);
      out(`Version: 0x${data[2]!.toString(16)}`);
      out(`Vendor: ${text(8, 16)}`);
      out(`Product: ${text(16, 32)}`);
      out(`Revision: ${text(32, 36)}`);
      return 0;
    }
    case 'readcap': {
      const url = needUrl(f, true);
      const cap = await withSession(url, f, (s) => readCapacity16(s, url.lun));
      out(`blocks: ${cap.blocks}`);
      out(`block size: ${cap.blockSize}`);
      out(`size: ${cap.blocks * BigInt(cap.blockSize)} bytes`);
      out(`thin provisioned: ${cap.thin ? 'yes' : 'no'}`);
      return 0;
    }
    case 'read': {
      const url = needUrl(f, true);
      const lba = BigInt(int(f, '--lba', 0));
      const blocks = int(f, '--blocks', 1);
      const data = await withSession(url, f, async (s) => {
        const cap = await readCapacity16(s, url.lun);
        const r = await expectGood('READ(16)', read16(s, url.lun, lba, blocks, cap.blockSize));
        return { data: r.data ?? Buffer.alloc(0), base: Number(lba) * cap.blockSize };
      });
      const file = f.values.get('--out');
      if (file) await writeFile(file, data.data);
      else out(hexDump(data.data, data.base));
      return 0;
    }
    case 'write': {
      const url = needUrl(f, true);
      const lba = BigInt(int(f, '--lba', 0));
      let payload: Buffer;
      if (f.values.has('--hex')) {
        const hex = f.values.get('--hex')!.replace(/\s+/g, '');
        if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError('--hex needs pairs of hex digits');
        payload = Buffer.from(hex, 'hex');
      } else if (f.values.has('--text')) payload = Buffer.from(f.values.get('--text')!, 'utf8');
      else if (f.values.has('--file')) payload = await readFile(f.values.get('--file')!);
      else throw new UsageError('write needs --hex HEX, --text TEXT or --file PATH');
      if (payload.length === 0) throw new UsageError('nothing to write');
      const written = await withSession(url, f, async (s) => {
        const cap = await readCapacity16(s, url.lun);
        // Whole blocks only: the tail of the last block is zero-filled.
        const padded = Buffer.alloc(Math.ceil(payload.length / cap.blockSize) * cap.blockSize);
        payload.copy(padded);
        await expectGood('WRITE(16)', write16(s, url.lun, lba, padded, cap.blockSize, f.switches.has('--fua')));
        return padded.length / cap.blockSize;
      });
      out(`wrote ${written} block${written === 1 ? '' : 's'} at LBA ${lba}`);
      return 0;
    }
    case 'dd': {
      const src = f.values.get('--if');
      const dst = f.values.get('--of');
      if (!src || !dst) throw new UsageError('dd needs --if URL|FILE and --of URL|FILE');
      const count = f.values.has('--count') ? int(f, '--count', 0) : undefined;
      const bytes = await copy(src, dst, count, f);
      out(`copied ${bytes} bytes`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

const CHUNK_BLOCKS = 2048;

/** Copies between a LUN and a file (either way) or two LUNs, in 1 MiB chunks. */
async function copy(src: string, dst: string, count: number | undefined, f: Flags): Promise<number> {
  const isUrl = (s: string) => s.startsWith('iscsi://');
  const srcS = isUrl(src) ? await InitiatorSession.login(loginOptions(parseIscsiUrl(src), f)) : undefined;
  const dstS = isUrl(dst) ? await InitiatorSession.login(loginOptions(parseIscsiUrl(dst), f)) : undefined;
  const srcLun = isUrl(src) ? parseIscsiUrl(src).lun : 0;
  const dstLun = isUrl(dst) ? parseIscsiUrl(dst).lun : 0;
  try {
    if (srcS) await clearUnitAttentions(srcS, srcLun);
    if (dstS) await clearUnitAttentions(dstS, dstLun);
    const srcCap = srcS ? await readCapacity16(srcS, srcLun) : undefined;
    const dstCap = dstS ? await readCapacity16(dstS, dstLun) : undefined;
    const bs = srcCap?.blockSize ?? dstCap?.blockSize ?? 512;
    const inFile = srcS ? undefined : await open(src, 'r');
    const outFile = dstS ? undefined : await open(dst, 'w');
    const total = count ?? (srcCap ? Number(srcCap.blocks) : Math.floor((await inFile!.stat()).size / bs));
    let done = 0;
    for (let lba = 0; lba < total; lba += CHUNK_BLOCKS) {
      const n = Math.min(CHUNK_BLOCKS, total - lba);
      let chunk: Buffer;
      if (srcS) chunk = (await expectGood('READ(16)', read16(srcS, srcLun, BigInt(lba), n, bs))).data!;
      else {
        chunk = Buffer.alloc(n * bs);
        await inFile!.read(chunk, 0, chunk.length, lba * bs);
      }
      if (dstS) await expectGood('WRITE(16)', write16(dstS, dstLun, BigInt(lba), chunk, bs));
      else await outFile!.write(chunk, 0, chunk.length, lba * bs);
      done += chunk.length;
    }
    if (dstS) await expectGood('SYNCHRONIZE CACHE(10)', synchronizeCache10(dstS, dstLun));
    await inFile?.close();
    await outFile?.close();
    return done;
  } finally {
    await srcS?.logout().catch(() => undefined);
    await dstS?.logout().catch(() => undefined);
  }
}
