// Real captures for tests: dumpcap on the loopback interface, and tshark's own list of the iSCSI PDUs it finds.
import { spawn } from 'node:child_process';
import { requireTools, run, explain } from './exec.ts';

interface Dumpcap {
  /** Stops capturing; resolves once the file is complete. */
  stop(): Promise<void>;
}

interface DumpcapOptions {
  /** Interface (default lo; `any` gives Linux cooked headers). */
  iface?: string;
  /** dumpcap -y: LINUX_SLL or LINUX_SLL2 on `any`. */
  linkType?: string;
  /** Classic pcap instead of pcapng (dumpcap -P). */
  pcap?: boolean;
}

/** Starts `dumpcap -i lo -f FILTER -w FILE` and resolves once it captures. */
export async function startDumpcap(file: string, filter: string, opts: DumpcapOptions = {}): Promise<Dumpcap> {
  requireTools('dumpcap');
  // A 64 MiB kernel buffer: loopback bursts of 64 KiB segments otherwise overrun the default one.
  const args = ['-B', '64', '-i', opts.iface ?? 'lo', ...(opts.linkType ? ['-y', opts.linkType] : []), ...(opts.pcap ? ['-P'] : []), '-f', filter, '-w', file];
  const p = spawn('dumpcap', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dumpcap did not start: ${err}`)), 15_000);
    p.stderr!.on('data', (d: Buffer) => {
      err += String(d);
      if (err.includes('Capturing on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.on('exit', (code) => reject(new Error(`dumpcap exited ${code}: ${err}`)));
  });
  // The filter is attached once "Capturing on" is printed; a short pause lets the first packets through it.
  await new Promise((r) => setTimeout(r, 300));
  return {
    async stop() {
      // dumpcap reads the kernel's buffer in batches: give the last packets time to reach the file.
      await new Promise((r) => setTimeout(r, 700));
      await new Promise<void>((resolve) => {
        p.on('exit', () => resolve());
        p.kill('SIGINT');
      });
    },
  };
}

/** One iSCSI PDU as tshark lists it: frame number, opcode (without the immediate bit), Initiator Task Tag. */
export interface TsharkPdu {
  readonly frame: number;
  readonly opcode: number;
  readonly itt: number;
}

/** `tshark -Y iscsi -T fields -e iscsi.opcode -e iscsi.initiatortasktag`, one entry per PDU (a frame may hold several). */
export async function tsharkPdus(file: string, port: number): Promise<TsharkPdu[]> {
  requireTools('tshark');
  const r = await run(
    'tshark',
    ['-r', file, '-d', `tcp.port==${port},iscsi`, '-Y', 'iscsi', '-T', 'fields', '-e', 'frame.number', '-e', 'iscsi.opcode', '-e', 'iscsi.initiatortasktag'],
    { timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(explain(r));
  const out: TsharkPdu[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const [frame, ops, itts] = line.split('\t');
    const o = ops!.split(',');
    const t = itts!.split(',');
    for (let i = 0; i < o.length; i++) out.push({ frame: Number(frame), opcode: Number(o[i]), itt: Number(t[i]) });
  }
  return out;
}

/**
 * Frames tshark's TCP analysis says follow a segment the capture lacks, or came out of order or twice (dumpcap
 * can miss or reorder one of a loopback burst on a loaded machine, and tshark then skips the PDUs around it). A
 * test that takes tshark's list as the truth needs a capture without any.
 */
export async function lostSegments(file: string): Promise<number> {
  requireTools('tshark');
  const r = await run(
    'tshark',
    [
      '-r',
      file,
      '-Y',
      'tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment || tcp.analysis.out_of_order || tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission',
      '-T',
      'fields',
      '-e',
      'frame.number',
    ],
    { timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(explain(r));
  return r.stdout.split('\n').filter(Boolean).length;
}

/** Runs `make` (which writes a capture to `file`) until the capture has no lost segment, at most `tries` times. */
export async function cleanCapture(file: string, make: () => Promise<void>, tries = 3): Promise<void> {
  for (let i = 1; ; i++) {
    await make();
    const lost = await lostSegments(file);
    if (lost === 0) return;
    if (i >= tries)
      throw new Error(`dumpcap missed segments in ${tries} captures in a row (${lost} in the last): the machine is too busy to make a reference capture`);
    console.log(`capture ${i} of ${file} lacks ${lost} segment(s) (dumpcap missed them): capturing again`);
  }
}
