// Task management across I_T nexuses (SAM-5 5.3.3, 7; RFC 7143 11.5): with the control mode page's TAS bit set,
// another nexus's CLEAR TASK SET / LOGICAL UNIT RESET / TARGET WARM RESET ends this nexus's pending commands with
// TASK ABORTED status, while the requester's own aborted commands get no status; and TARGET WARM / COLD RESET are
// refused ("function rejected") unless the target runs with --allow-target-reset, which `serve` does not by default.
import { describe, expect, it } from 'vitest';
import { RawSession } from '../helpers/raw-session.ts';
import { useInProcessTarget } from '../helpers/in-process-target.ts';
import { startServe } from '../helpers/serve.ts';
import { write10 } from '../helpers/cdb.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { decodeScsiResponse } from '../../server/iscsi/pdu/scsi-response.ts';
import { decodeTaskManagementResponse, encodeTaskManagementRequest } from '../../server/iscsi/pdu/task-management.ts';
import { decodeR2T } from '../../server/iscsi/pdu/r2t.ts';
import { encodeDataOut } from '../../server/iscsi/pdu/data.ts';
import { opcodeOf, type Pdu } from '../../server/iscsi/pdu.ts';
import { Opcode } from '../../server/iscsi/constants.ts';

const TASK_ABORTED = 0x40;
const FUNCTION_COMPLETE = 0;
const FUNCTION_REJECTED = 255;
const TMF = { clearTaskSet: 4, logicalUnitReset: 5, targetWarmReset: 6, targetColdReset: 7 } as const;
const BLOCKS = 8;

const lab = useInProcessTarget('tmf', 8 << 20, { allowTargetReset: true });
let nextIsid = 0x10;

async function login(port: number, iqn: string, who: string): Promise<RawSession> {
  const s = await RawSession.open(port);
  await s.login(iqn, `iqn.2026-11.org.iscsi-lab:${who}`, `8000000000${(nextIsid++).toString(16).padStart(2, '0')}`);
  return s;
}

const isOp = (op: number, itt?: number) => (p: Pdu) => opcodeOf(p.bhs) === op && (itt === undefined || p.bhs.readUInt32BE(16) === itt);

/** A WRITE(10) sent without its data: the target answers with an R2T and the task waits for Data-Out. */
async function pendingWrite(s: RawSession, itt: number): Promise<number> {
  s.send(
    encodeScsiCommand({
      immediate: false,
      final: true,
      read: false,
      write: true,
      attribute: 1,
      lun: 0,
      itt,
      expectedDataTransferLength: BLOCKS * 512,
      cmdSN: s.cmdSN++,
      expStatSN: s.expStatSN,
      cdb: Buffer.from(write10(0, BLOCKS)),
    }),
  );
  const r2t = await s.next(isOp(Opcode.R2T, itt));
  expect(r2t, 'R2T for the pending WRITE').toBeDefined();
  return decodeR2T(r2t!).ttt;
}

async function tmf(s: RawSession, fn: number, itt: number): Promise<number | undefined> {
  s.send(
    encodeTaskManagementRequest({
      immediate: true,
      function: fn,
      lun: 0,
      itt,
      referencedTaskTag: 0xffffffff,
      cmdSN: s.cmdSN,
      expStatSN: s.expStatSN,
      refCmdSN: 0,
      expDataSN: 0,
    }),
  );
  const r = await s.next(isOp(Opcode.TaskManagementResponse, itt));
  return r && decodeTaskManagementResponse(r).response;
}

async function statusOf(s: RawSession, itt: number, timeoutMs = 3000): Promise<number | undefined> {
  const r = await s.next(isOp(Opcode.ScsiResponse, itt), timeoutMs);
  return r && decodeScsiResponse(r).status;
}

describe("TAS: another nexus aborting this nexus's tasks", () => {
  for (const [name, fn] of [
    ['LOGICAL UNIT RESET', TMF.logicalUnitReset],
    ['CLEAR TASK SET', TMF.clearTaskSet],
    ['TARGET WARM RESET', TMF.targetWarmReset],
  ] as const) {
    it(`session B's ${name} ends session A's pending WRITE with TASK ABORTED; B's own gets no status`, async () => {
      const a = await login(lab.port, lab.iqn, 'tas-a');
      const b = await login(lab.port, lab.iqn, 'tas-b');
      await pendingWrite(a, 0x100);
      await pendingWrite(b, 0x200);
      expect(await tmf(b, fn, 0x201)).toBe(FUNCTION_COMPLETE);
      expect(await statusOf(a, 0x100)).toBe(TASK_ABORTED);
      // The requester learns from the TMF response; its own aborted task is answered by nothing (RFC 7143 11.5.1).
      expect(await statusOf(b, 0x200, 300)).toBeUndefined();
      a.close();
      b.close();
    });
  }
});

describe('TARGET WARM / COLD RESET policy', () => {
  it('`serve` refuses TARGET COLD RESET by default ("function rejected") and the sessions go on', async () => {
    const lab = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:16M']);
    const port = lab.port;
    try {
      const iqn = 'iqn.2026-11.org.iscsi-lab:lab';
      const a = await login(port, iqn, 'cold-a');
      const b = await login(port, iqn, 'cold-b');
      const ttt = await pendingWrite(a, 0x300);
      expect(await tmf(b, TMF.targetColdReset, 0x301)).toBe(FUNCTION_REJECTED);
      expect(await tmf(b, TMF.targetWarmReset, 0x302)).toBe(FUNCTION_REJECTED);
      // A's write was left alone: its data still completes it, and the connection stays up.
      a.send(encodeDataOut({ final: true, lun: 0, itt: 0x300, ttt, expStatSN: a.expStatSN, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(BLOCKS * 512, 7) }));
      expect(await statusOf(a, 0x300)).toBe(0);
      expect(a.closed || b.closed).toBe(false);
      expect(lab.out()).toMatch(/TARGET COLD RESET from iqn\.2026-11\.org\.iscsi-lab:cold-b refused/);
      a.close();
      b.close();
    } finally {
      await lab.stop();
    }
  });
});
