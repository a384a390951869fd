// tshark's "malformed" verdicts on an iSCSI capture, sorted into the ones that say something about the capture and
// the one tshark 4.0 gives any standard-conforming target: a VPD page that the target cut at the INQUIRY's
// allocation length (SPC-4 4.2.5.6: the transfer ends at ALLOCATION LENGTH bytes or all the data, whichever is
// less). qemu's iSCSI driver asks for the Device Identification page with 64 bytes first and again with the page's
// full length; tshark's VPD 0x83 dissector then reads the 72-byte page past the 64 bytes that were sent and raises an
// exception. The standard INQUIRY's cut answer it handles ("SCSI transfer limited due to allocation_length too small").
import { explain, requireTools, run } from './exec.ts';

export interface MalformedFrames {
  /** Frames tshark marks malformed for any other reason: a fault in the capture (or in tshark). */
  readonly other: number[];
  /** Frames whose only trouble is a VPD page cut at the allocation length, as the standard requires. */
  readonly cutVpdPage: number[];
}

const EVPD = 0x01;

async function fields(file: string, port: number, filter: string, names: string[]): Promise<string[][]> {
  const r = await run('tshark', ['-r', file, '-d', `tcp.port==${port},iscsi`, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])], {
    timeoutMs: 120_000,
  });
  if (r.code !== 0) throw new Error(explain(r));
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t'));
}

export async function malformedFrames(file: string, port: number): Promise<MalformedFrames> {
  requireTools('tshark');
  const bad = await fields(file, port, '_ws.malformed', ['frame.number', 'iscsi.opcode', 'iscsi.datasegmentlength', 'scsi.request_frame']);
  const requests = [...new Set(bad.map((b) => b[3]!.split(',')[0]!).filter(Boolean))];
  const cdbs = new Map<string, { flags: number; alloc: number }>();
  if (requests.length > 0) {
    for (const [frame, flags, alloc] of await fields(file, port, requests.map((f) => `frame.number == ${f}`).join(' || '), [
      'frame.number',
      'scsi.inquiry.flags',
      'scsi.cdb.alloclen16',
    ])) {
      if (flags && alloc) cdbs.set(frame!, { flags: Number(flags), alloc: Number(alloc) });
    }
  }
  const other: number[] = [];
  const cutVpdPage: number[] = [];
  for (const [frame, opcodes, lengths, request] of bad) {
    const cdb = cdbs.get(request!.split(',')[0]!);
    // One SCSI Data-In in the frame, answering an INQUIRY with EVPD set, carrying exactly the allocation length.
    const cut = opcodes === '0x25' && cdb !== undefined && (cdb.flags & EVPD) !== 0 && Number(lengths) === cdb.alloc;
    (cut ? cutVpdPage : other).push(Number(frame));
  }
  return { other, cutVpdPage };
}
