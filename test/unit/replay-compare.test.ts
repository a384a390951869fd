/** Replay's comparison lines and argument parsing, without a target. */
import { describe, expect, it } from 'vitest';
import { compareResult, parseReplayArgs, ReplayUsageError } from '../../server/replay/replay.ts';
import type { ScsiTask } from '../../server/replay/extract.ts';

const sense = (key: number, asc: number, ascq: number): Buffer => {
  const s = Buffer.alloc(18);
  s[0] = 0x70;
  s[2] = key;
  s[7] = 10;
  s[12] = asc;
  s[13] = ascq;
  return s;
};

function readTask(data: Uint8Array, status = 0, senseBytes?: Uint8Array): ScsiTask {
  const cdb = Buffer.from([0x28, 0, 0, 0, 0, 100, 0, 0, 8, 0]);
  return {
    index: 4,
    pduIndex: 20,
    connectionId: 0,
    itt: 5,
    lun: 0,
    cdb,
    immediate: false,
    read: true,
    write: false,
    attribute: 1,
    edtl: 4096,
    dataIn: data,
    outcome: { response: 0, status, sense: senseBytes, residual: 0, overflow: false, underflow: false, pduIndex: 22 },
    problems: [],
  };
}

describe('compareResult', () => {
  const data = Buffer.alloc(4096, 0xab);

  it('finds nothing when status and data match (replayed data cut to the recorded length)', () => {
    expect(compareResult(readTask(data), { status: 0, data: Buffer.concat([data, Buffer.alloc(10)]), residual: 0, overflow: false, underflow: false })).toEqual(
      [],
    );
  });

  it('names the status and sense on both sides', () => {
    const got = { status: 2, sense: sense(5, 0x21, 0), residual: 4096, overflow: false, underflow: true };
    expect(compareResult(readTask(data), got)).toEqual(['status GOOD vs CHECK CONDITION, ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)']);
  });

  it('compares sense key, ASC and ASCQ when the status is the same', () => {
    const task = readTask(new Uint8Array(0), 2, sense(5, 0x24, 0));
    expect(compareResult(task, { status: 2, sense: sense(5, 0x24, 0), residual: 0, overflow: false, underflow: false })).toEqual([]);
    expect(compareResult(task, { status: 2, sense: sense(3, 0x11, 0), residual: 0, overflow: false, underflow: false })).toEqual([
      'sense CHECK CONDITION, ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00) vs CHECK CONDITION, MEDIUM ERROR: UNRECOVERED READ ERROR (0x11/0x00)',
    ]);
  });

  it('reports a data difference with both digests and where it starts, in bytes and LBA', () => {
    const other = Buffer.from(data);
    other[1536] = 0;
    const [line] = compareResult(readTask(data), { status: 0, data: other, residual: 0, overflow: false, underflow: false });
    expect(line).toMatch(/^data sha256 differs \([0-9a-f]{16}… vs [0-9a-f]{16}…\), first difference at byte 1536 \(LBA 103\)$/);
    expect(compareResult(readTask(data), { status: 0, data: data.subarray(0, 512), residual: 3584, overflow: false, underflow: true })).toEqual([
      'data length 4096 vs 512 bytes',
    ]);
  });
});

describe('parseReplayArgs', () => {
  it('takes FILE, --target and the optional flags, in any order and with =', () => {
    expect(
      parseReplayArgs(['--target', 'iscsi://h/iqn.x/1', 'cap.pcapng', '--initiator-name=iqn.2026-11.a:b', '--lun-map', 'capture', '--header-digest']),
    ).toEqual({
      file: 'cap.pcapng',
      target: 'iscsi://h/iqn.x/1',
      options: { initiatorName: 'iqn.2026-11.a:b', lunMap: 'capture', headerDigest: true },
    });
  });

  it('refuses what it does not understand, with a usage line', () => {
    expect(() => parseReplayArgs(['--target', 'iscsi://h/iqn.x/1'])).toThrow(/capture FILE is required/);
    expect(() => parseReplayArgs(['a', 'b', '--target', 'u'])).toThrow(/one capture FILE only/);
    expect(() => parseReplayArgs(['a'])).toThrow(/--target .* is required/);
    expect(() => parseReplayArgs(['a', '--target'])).toThrow(/--target needs a value/);
    expect(() => parseReplayArgs(['a', '--target', 'u', '--lun-map', 'x'])).toThrow(/--lun-map must be url or capture/);
    expect(() => parseReplayArgs(['a', '--target', 'u', '--fast'])).toThrow(ReplayUsageError);
    expect(() => parseReplayArgs(['a', '--fast'])).toThrow(/usage: iscsi-lab replay FILE --target/);
  });
});
