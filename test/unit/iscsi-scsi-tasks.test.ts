/**
 * SCSI task handling (server/iscsi/scsi-tasks.ts) through its narrow interface (full-feature.ts), without a socket:
 * a fake connection keeps every PDU the tasks send, a fake SCSI target answers, and the test reads the PDUs back.
 */
import { describe, expect, it } from 'vitest';
import { Opcode } from '../../server/iscsi/constants.ts';
import { DataBudget } from '../../server/iscsi/data-budget.ts';
import type { TaskConnection } from '../../server/iscsi/full-feature.ts';
import { DEFAULT_PARAMS, type SessionParams } from '../../server/iscsi/negotiation.ts';
import { opcodeOf, type Pdu } from '../../server/iscsi/pdu.ts';
import { decodeDataIn } from '../../server/iscsi/pdu/data.ts';
import { decodeR2T } from '../../server/iscsi/pdu/r2t.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { decodeScsiResponse } from '../../server/iscsi/pdu/scsi-response.ts';
import { ScsiTaskHandler } from '../../server/iscsi/scsi-tasks.ts';
import { Session } from '../../server/iscsi/session.ts';
import type { ScsiBackend } from '../../server/iscsi/target-context.ts';
import type { ScsiCommand, ScsiResponse } from '../../server/scsi/types.ts';
import { NO_STEP_HOLD, type StepHold } from '../../server/taps/step-hold.ts';

const BLOCK = 512;
const FIRST_CMDSN = 10;
const FIRST_STATSN = 100;
const WINDOW = 8;

/** A connection in Full Feature Phase whose "socket" is the `sent` list, on a real session (CmdSN window). */
function fakeConnection(answer: (cmd: ScsiCommand) => ScsiResponse, opts: { params?: Partial<SessionParams>; stepHold?: StepHold } = {}) {
  const executed: ScsiCommand[] = [];
  const scsi: ScsiBackend = {
    execute: async (cmd) => {
      executed.push(cmd);
      return answer(cmd);
    },
    taskManagement: async () => undefined,
    nexusLost: () => undefined,
    hasLun: (lun) => lun === 0,
  };
  const nexus = { id: 'iqn.test,i,0x01,t,0x0001', initiatorName: 'iqn.test', initiatorPort: 'iqn.test,i,0x01', relativeTargetPort: 1 };
  const params: SessionParams = { ...DEFAULT_PARAMS, ...opts.params };
  const session = new Session(1, Buffer.alloc(6), 'iqn.test', 'Normal', params, nexus, { targetName: 'iqn.target', scsi }, FIRST_CMDSN, WINDOW);
  const sent: Pdu[] = [];
  const rejects: string[] = [];
  let statSN = FIRST_STATSN;
  let ttt = 1;
  const conn: TaskConnection = {
    id: 7,
    initiatorName: 'iqn.test',
    state: 'full',
    session,
    ctx: { dataBudget: new DataBudget(64 * 1024 * 1024), stepHold: opts.stepHold ?? NO_STEP_HOLD, log: () => undefined },
    params,
    get statSN() {
      return statSN;
    },
    get expCmdSN() {
      return session.expCmdSN;
    },
    get maxCmdSN() {
      return session.maxCmdSN;
    },
    flushedBytes: 0,
    allocTtt: () => ttt++,
    takeStatSN: () => statSN++,
    send: (pdu, onFlushed) => {
      sent.push(pdu);
      onFlushed?.();
    },
    sendReject: (_reason, _bhs, detail) => rejects.push(detail),
    admit: (cmdSN, immediate, fn) => session.admit(cmdSN, immediate, fn),
    cut: () => undefined,
  };
  return { tasks: new ScsiTaskHandler(conn), sent, executed, rejects, session };
}

/** READ(10) / WRITE(10) of `blocks` at LBA 0, as a SCSI Command PDU with `data` as immediate data. */
function command(op: 'read' | 'write', itt: number, cmdSN: number, blocks: number, edtl: number, data?: Buffer): Pdu {
  const cdb = Buffer.alloc(16);
  cdb[0] = op === 'read' ? 0x28 : 0x2a;
  cdb.writeUInt16BE(blocks, 7);
  return encodeScsiCommand(
    {
      immediate: false,
      final: true,
      read: op === 'read',
      write: op === 'write',
      attribute: 1,
      lun: 0,
      itt,
      expectedDataTransferLength: edtl,
      cmdSN,
      expStatSN: FIRST_STATSN,
      cdb,
    },
    data,
  );
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ScsiTaskHandler without a socket', () => {
  it('runs a WRITE whose data all came as immediate data and answers with one SCSI Response', async () => {
    const f = fakeConnection(() => ({ status: 0 }));
    const payload = Buffer.alloc(2 * BLOCK, 0x5a);
    f.tasks.command(command('write', 0x21, FIRST_CMDSN, 2, payload.length, payload));
    await settle();

    expect(f.executed).toHaveLength(1);
    expect(Buffer.from(f.executed[0]!.dataOut!)).toEqual(payload);
    expect(f.executed[0]!.writeBit).toBe(true);
    // No R2T: immediate data covered the whole transfer.
    expect(f.sent.map((p) => opcodeOf(p.bhs))).toEqual([Opcode.ScsiResponse]);
    const res = decodeScsiResponse(f.sent[0]!);
    expect(res).toMatchObject({
      itt: 0x21,
      status: 0,
      response: 0,
      statSN: FIRST_STATSN,
      expCmdSN: FIRST_CMDSN + 1,
      expDataSN: 0,
      underflow: false,
      overflow: false,
      residualCount: 0,
    });
    // The answered command gave its window slot back before the status was built.
    expect(res.maxCmdSN).toBe(FIRST_CMDSN + WINDOW);
    expect(f.tasks.size).toBe(0);
  });

  it('asks for the rest of a WRITE with R2T when immediate data covered only its first part', async () => {
    const f = fakeConnection(() => ({ status: 0 }), { params: { initialR2T: true } });
    f.tasks.command(command('write', 0x22, FIRST_CMDSN, 4, 4 * BLOCK, Buffer.alloc(BLOCK, 1)));
    await settle();

    expect(f.executed).toHaveLength(0);
    expect(f.sent.map((p) => opcodeOf(p.bhs))).toEqual([Opcode.R2T]);
    expect(decodeR2T(f.sent[0]!)).toMatchObject({ itt: 0x22, r2tSN: 0, bufferOffset: BLOCK, desiredDataTransferLength: 3 * BLOCK });
  });

  it('sends READ data in Data-In PDUs of MaxRecvDataSegmentLength, the status in the last one, and no SCSI Response', async () => {
    const blocks = Buffer.alloc(3 * BLOCK);
    for (let i = 0; i < blocks.length; i++) blocks[i] = i & 0xff;
    const f = fakeConnection(() => ({ status: 0, dataIn: blocks }), { params: { maxSendDataSegmentLength: BLOCK } });
    // The initiator expects four blocks, the command returns three: an underflow of one block.
    f.tasks.command(command('read', 0x23, FIRST_CMDSN, 3, 4 * BLOCK));
    await settle();

    expect(f.sent.map((p) => opcodeOf(p.bhs))).toEqual([Opcode.ScsiDataIn, Opcode.ScsiDataIn, Opcode.ScsiDataIn]);
    const dataIn = f.sent.map(decodeDataIn);
    expect(dataIn.map((d) => [d.dataSN, d.bufferOffset, d.final, d.status])).toEqual([
      [0, 0, false, undefined],
      [1, BLOCK, false, undefined],
      [2, 2 * BLOCK, true, 0],
    ]);
    expect(Buffer.concat(dataIn.map((d) => d.data))).toEqual(blocks);
    expect(dataIn[2]).toMatchObject({ statSN: FIRST_STATSN, underflow: true, residualCount: BLOCK });
  });

  it('holds the stepped task before it runs until the step hold resumes it', async () => {
    let resume: (() => void) | undefined;
    const hold: StepHold = {
      armed: true,
      holdTask: (_name, _itt, stage, go) => {
        if (stage !== 'target-received' || resume) return false;
        resume = go;
        return true;
      },
      beforeStore: () => undefined,
    };
    const f = fakeConnection(() => ({ status: 0 }), { stepHold: hold });
    f.tasks.command(command('write', 0x24, FIRST_CMDSN, 1, BLOCK, Buffer.alloc(BLOCK)));
    await settle();
    expect(f.executed).toHaveLength(0);
    expect(f.sent).toHaveLength(0);

    resume!();
    await settle();
    expect(f.executed).toHaveLength(1);
    expect(decodeScsiResponse(f.sent[0]!).status).toBe(0);
  });
});
