/**
 * Every common capture: real qemu-io traffic to Debian's tgt over IPv4 and IPv6, captured by dumpcap as pcapng
 * (Ethernet on lo) and as classic pcap with Linux cooked v1 and v2 headers (`-i any`), then the same packets
 * re-framed as raw IP, BSD null/loopback and 802.1Q VLAN. The target listens on a port that is not 3260, so the
 * reader must find iSCSI by content. For each file the lab's PDU list equals tshark's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture } from '../../server/capture/read-capture.ts';
import { packetsOf } from '../../server/capture/packet-file.ts';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { startDumpcap, tsharkPdus } from '../helpers/dumpcap.ts';
import { startTgt, type Tgt } from '../helpers/tgt.ts';
import { nullFramed, stripEthernet, vlanTagged, writePcap, type Frame } from '../helpers/pcap-rewrite.ts';

const LINKTYPE_NULL = 0;
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const BSD_AF_INET = 2;
/** FreeBSD's AF_INET6; Wireshark's null dissector knows it. */
const BSD_AF_INET6 = 28;

let dir: string;
const tgts: Tgt[] = [];
/** name -> [file, tgt port, IPv6?] */
const files = new Map<string, { file: string; port: number; v6: boolean }>();

const ethernetFrames = (file: string): Frame[] =>
  [...packetsOf([new Uint8Array(readFileSync(file))])].map((p) => {
    expect(p.linkType).toBe(LINKTYPE_ETHERNET);
    return { timeNs: p.timeNs, data: p.data.slice() };
  });

beforeAll(async () => {
  requireTools('qemu-io', 'tshark', 'dumpcap');
  dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-formats-'));
  for (const host of ['127.0.0.1', '::1']) {
    const tgt = await startTgt(dir, { host });
    tgts.push(tgt);
    const v6 = host.includes(':');
    const tag = v6 ? 'ipv6' : 'ipv4';
    const filter = `tcp port ${tgt.port}`;
    const caps = [
      [`${tag} pcapng ethernet`, await startDumpcap(join(dir, `${tag}-eth.pcapng`), filter)],
      [`${tag} pcap linux-cooked-v1`, await startDumpcap(join(dir, `${tag}-sll.pcap`), filter, { iface: 'any', linkType: 'LINUX_SLL', pcap: true })],
      [`${tag} pcapng linux-cooked-v2`, await startDumpcap(join(dir, `${tag}-sll2.pcapng`), filter, { iface: 'any', linkType: 'LINUX_SLL2' })],
    ] as const;
    const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x3c 0 300k', '-c', 'read -P 0x3c 0 300k', '-c', 'read -P 0 1M 64k', tgt.url], {
      timeoutMs: 60_000,
    });
    for (const [, c] of caps) await c.stop();
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).not.toMatch(/Pattern verification failed/);
    files.set(caps[0][0], { file: join(dir, `${tag}-eth.pcapng`), port: tgt.port, v6 });
    files.set(caps[1][0], { file: join(dir, `${tag}-sll.pcap`), port: tgt.port, v6 });
    files.set(caps[2][0], { file: join(dir, `${tag}-sll2.pcapng`), port: tgt.port, v6 });
    const eth = ethernetFrames(join(dir, `${tag}-eth.pcapng`));
    const derived: [string, number, Frame[]][] = [
      [`${tag} pcap raw-ip`, LINKTYPE_RAW, eth.map(stripEthernet)],
      [`${tag} pcap null`, LINKTYPE_NULL, eth.map((f) => nullFramed(f, v6 ? BSD_AF_INET6 : BSD_AF_INET))],
      [`${tag} pcap ethernet-vlan`, LINKTYPE_ETHERNET, eth.map((f) => vlanTagged(f, 42))],
    ];
    for (const [name, linkType, frames] of derived) {
      const file = join(dir, `${name.replace(/ /g, '-')}.pcap`);
      writePcap(file, linkType, frames);
      files.set(name, { file, port: tgt.port, v6 });
    }
  }
}, 180_000);

afterAll(async () => {
  for (const t of tgts) await t.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const NAMES = ['pcapng ethernet', 'pcap linux-cooked-v1', 'pcapng linux-cooked-v2', 'pcap raw-ip', 'pcap null', 'pcap ethernet-vlan'].flatMap((n) => [
  `ipv4 ${n}`,
  `ipv6 ${n}`,
]);

describe('every common capture decodes as tshark decodes it', () => {
  it.each(NAMES)('%s', async (name) => {
    const f = files.get(name)!;
    const lab = readCapture(new Uint8Array(readFileSync(f.file)));
    const want = await tsharkPdus(f.file, f.port);
    const key = (frame: number, opcode: number, itt: number): string => `${frame} 0x${opcode.toString(16)} 0x${itt.toString(16)}`;
    const got = lab.pdus.map((p) => key(p.frame, p.bhs[0]! & 0x3f, new DataView(p.bhs.buffer, p.bhs.byteOffset).getUint32(16)));
    console.log(`${name}: lab ${got.length} PDUs, tshark ${want.length}`);
    expect(want.length).toBeGreaterThan(20);
    expect(got).toEqual(want.map((p) => key(p.frame, p.opcode, p.itt)));
    expect(lab.gaps).toEqual([]);
    const initiatorSide = lab.pdus[0]!.tcp;
    expect(initiatorSide.src).toBe(f.v6 ? '::1' : '127.0.0.1');
    expect(initiatorSide.dstPort).toBe(f.port);
    expect(lab.pdus.every((p) => (p.direction === 'i2t') === (p.tcp.dstPort === f.port))).toBe(true);
  });
});
