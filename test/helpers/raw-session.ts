import { connect, type Socket } from 'node:net';
import { PduReader, serializePdu } from '../../server/iscsi/framing.ts';
import type { Pdu } from '../../server/iscsi/pdu.ts';
import { encodeLoginRequest, decodeLoginResponse } from '../../server/iscsi/pdu/login.ts';
import { encodeKeys, parseKeys } from '../../server/iscsi/text-keys.ts';
import { encodeScsiCommand } from '../../server/iscsi/pdu/scsi-command.ts';
import { opcodeOf } from '../../server/iscsi/pdu.ts';
import { Opcode } from '../../server/iscsi/constants.ts';

/** ITTs of the TEST UNIT READYs login sends, out of the way of the small ones tests pick. */
const CLEAR_UA_ITT = 0x7ffffff0;

/**
 * A bare-bones initiator for transport tests: logs in without authentication and then lets a test send any
 * bytes or PDUs it likes, malformed ones included, and wait for what comes back.
 */
export class RawSession {
  readonly received: Pdu[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  private reader: PduReader;
  cmdSN = 1;
  expStatSN = 0;
  /** The final Login Response's command window (RFC 7143 4.2.2.1). */
  window = { expCmdSN: 0, maxCmdSN: 0 };
  /** The session's TSIH and ISID once logged in (a second connection or a reinstatement names them). */
  tsih = 0;
  isid = '';
  initiatorName = '';

  private constructor(readonly socket: Socket) {
    this.reader = new PduReader({
      pdu: (p) => {
        this.received.push({ bhs: Buffer.from(p.bhs), ahs: Buffer.from(p.ahs), data: Buffer.from(p.data) });
        this.wake();
      },
      error: () => undefined,
    });
    // Whatever MaxRecvDataSegmentLength a test declared (up to the RFC's 2^24 - 1), take what the target sends.
    this.reader.maxDataSegmentLength = 0xffffff;
    socket.on('data', (c: Buffer) => this.reader.push(c));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawSession> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawSession(socket);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(pdu: Pdu): void {
    for (const part of serializePdu(pdu, this.digests, this.digests)) this.socket.write(part);
  }

  /** Waits for the next PDU matching `pred` (or for the connection to close, resolving undefined). */
  async next(pred: (p: Pdu) => boolean = () => true, timeoutMs = 3000): Promise<Pdu | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(pred);
      if (i >= 0) return this.received.splice(i, 1)[0];
      if (this.closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Header and data digests (CRC32C) are on for this session's PDUs, both ways. */
  digests = false;

  /**
   * Logs in (Normal session, no authentication). Then, as real initiators do (libiscsi, the Linux kernel), clears
   * the unit attention a new I_T nexus gets on LUN 0 (POWER ON ... or I_T NEXUS LOSS OCCURRED) with immediate
   * TEST UNIT READYs, which leave CmdSN where it was; `clearUnitAttention` false keeps it for the test to see.
   */
  async login(
    targetName: string,
    initiatorName = 'iqn.2026-11.org.iscsi-lab:raw',
    isid = '800000000001',
    digests = false,
    clearUnitAttention = true,
  ): Promise<Record<string, string>> {
    this.send(
      encodeLoginRequest({
        transit: true,
        continue: false,
        csg: 1,
        nsg: 3,
        versionMax: 0,
        versionMin: 0,
        isid: Buffer.from(isid, 'hex'),
        tsih: 0,
        itt: 0x1000,
        cid: 0,
        cmdSN: this.cmdSN,
        expStatSN: 0,
        data: encodeKeys([
          ['InitiatorName', initiatorName],
          ['TargetName', targetName],
          ['SessionType', 'Normal'],
          ['HeaderDigest', digests ? 'CRC32C' : 'None'],
          ['DataDigest', digests ? 'CRC32C' : 'None'],
          ['InitialR2T', 'Yes'],
          ['ImmediateData', 'Yes'],
          ['MaxRecvDataSegmentLength', '262144'],
        ]),
      }),
    );
    const p = await this.next();
    if (!p) throw new Error('no Login Response');
    const r = decodeLoginResponse(p);
    if (r.statusClass !== 0) throw new Error(`login failed ${r.statusClass}/${r.statusDetail}`);
    this.expStatSN = (r.statSN + 1) >>> 0;
    this.window = { expCmdSN: r.expCmdSN, maxCmdSN: r.maxCmdSN };
    this.tsih = r.tsih;
    this.isid = isid;
    this.initiatorName = initiatorName;
    const keys = Object.fromEntries(parseKeys(r.data));
    // Digests start with the first PDU after the final Login Response (RFC 7143 13.1).
    if (digests && keys.HeaderDigest === 'CRC32C' && keys.DataDigest === 'CRC32C') this.digests = this.reader.headerDigest = this.reader.dataDigest = true;
    if (clearUnitAttention) await this.clearUnitAttention();
    return keys;
  }

  /** Immediate TEST UNIT READY on LUN 0 until it is not answered UNIT ATTENTION (at most a few times). */
  async clearUnitAttention(): Promise<void> {
    for (let i = 0; i < 4; i++) {
      const itt = CLEAR_UA_ITT + i;
      this.send(
        encodeScsiCommand({
          immediate: true,
          final: true,
          read: false,
          write: false,
          attribute: 1,
          lun: 0,
          itt,
          expectedDataTransferLength: 0,
          cmdSN: this.cmdSN,
          expStatSN: this.expStatSN,
          cdb: Buffer.alloc(16),
        }),
      );
      const r = await this.next((p) => opcodeOf(p.bhs) === Opcode.ScsiResponse && p.bhs.readUInt32BE(16) === itt);
      if (!r) throw new Error('no answer to TEST UNIT READY after login');
      this.expStatSN = (r.bhs.readUInt32BE(24) + 1) >>> 0;
      const status = r.bhs[3];
      const senseKey = r.data.length > 4 ? r.data[4]! & 0x0f : 0; // 2-byte SenseLength, then fixed-format sense
      if (status !== 0x02 || senseKey !== 0x06) return;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
