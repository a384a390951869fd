import { LIMITS, RESERVED_TAG } from './constants.ts';
import { negotiate, type SessionParams } from './negotiation.ts';
import type { Pdu } from './pdu.ts';
import { decodeText, encodeTextResponse } from './pdu/text.ts';
import { RejectReason } from './pdu/reject.ts';
import { encodeKeys, parseKeys, type KeyValue } from './text-keys.ts';

/** What Text Request handling needs of its connection (connection.ts provides it). */
export interface TextConnection {
  /** The settled parameters; MaxRecvDataSegmentLength, declarative, may still change here. */
  readonly params: SessionParams;
  readonly portalGroupTag: number;
  readonly session: { readonly type: 'Normal' | 'Discovery'; readonly target: { readonly targetName: string }; release(): void } | undefined;
  readonly ctx: { sendTargets(value: string, sessionType: 'Normal' | 'Discovery', portalGroupTag: number, own: string): KeyValue[] };
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  allocTtt(): number;
  takeStatSN(): number;
  send(pdu: Pdu): void;
  sendReject(reason: number, bhs: Buffer, detail: string): void;
  admit(cmdSN: number, immediate: boolean, fn: () => void): boolean;
}

/**
 * Full Feature Phase Text Requests on one connection (RFC 7143 11.10): continued requests gathered under a cap,
 * SendTargets answered (13.3), a long answer sent in parts the initiator asks for by TTT.
 */
export class TextRequests {
  private pending: { ttt: number; rest: Buffer } | undefined;
  private request: Buffer[] = [];
  private requestBytes = 0;

  constructor(private readonly conn: TextConnection) {}

  receive(pdu: Pdu): void {
    const t = decodeText(pdu);
    const conn = this.conn;
    const maxSeg = conn.params.maxSendDataSegmentLength;
    const sendPart = (itt: number, lun: number, body: Buffer): void => {
      const last = body.length <= maxSeg;
      const part = last ? body : body.subarray(0, maxSeg);
      const ttt = last ? RESERVED_TAG : conn.allocTtt();
      this.pending = last ? undefined : { ttt, rest: body.subarray(maxSeg) };
      conn.send(
        encodeTextResponse({
          immediate: false,
          final: last,
          continue: !last,
          lun,
          itt,
          ttt,
          sn: conn.takeStatSN(),
          expSN: conn.expCmdSN,
          maxCmdSN: conn.maxCmdSN,
          data: part,
        }),
      );
    };
    conn.admit(t.sn, t.immediate, () => {
      if (!t.immediate) conn.session!.release();
      if (t.ttt !== RESERVED_TAG) {
        // The initiator asks for the rest of a long answer (RFC 7143 11.10.4).
        const pending = this.pending;
        if (!pending || pending.ttt !== t.ttt) return conn.sendReject(RejectReason.ProtocolError, pdu.bhs, 'Text Request with unknown TTT');
        return sendPart(t.itt, t.lun, pending.rest);
      }
      this.request.push(Buffer.from(t.data));
      this.requestBytes += t.data.length;
      // Continued text is gathered up to the same cap as login text (RFC 7143 11.10.2), never without bound.
      if (this.requestBytes > LIMITS.maxTextBytes) {
        this.request = [];
        this.requestBytes = 0;
        return conn.sendReject(RejectReason.ProtocolError, pdu.bhs, `Text Request over ${LIMITS.maxTextBytes} bytes`);
      }
      if (t.continue) return sendPart(t.itt, t.lun, Buffer.alloc(0));
      const data = Buffer.concat(this.request);
      this.request = [];
      this.requestBytes = 0;
      let pairs: KeyValue[];
      try {
        pairs = parseKeys(data);
      } catch (err) {
        return conn.sendReject(RejectReason.ProtocolError, pdu.bhs, String(err));
      }
      const refusal = refuseFullFeatureText(pairs);
      if (refusal) return conn.sendReject(RejectReason.ProtocolError, pdu.bhs, refusal);
      const answers: KeyValue[] = [];
      const others: KeyValue[] = [];
      for (const kv of pairs) {
        if (kv[0] === 'SendTargets') answers.push(...conn.ctx.sendTargets(kv[1], conn.session!.type, conn.portalGroupTag, conn.session!.target.targetName));
        else others.push(kv);
      }
      // Only the declarative MaxRecvDataSegmentLength may change in Full Feature Phase; others are answered and ignored.
      const scratch = { ...conn.params };
      const r = negotiate(others, scratch);
      if (r.ok) {
        answers.push(...r.answers);
        conn.params.maxSendDataSegmentLength = scratch.maxSendDataSegmentLength;
      }
      sendPart(t.itt, t.lun, encodeKeys(answers));
    });
  }
}

/** An iSCSI name (RFC 7143 4.2.7.2): iqn., eui. or naa. form; what a SendTargets value other than All may be. */
const ISCSI_NAME = /^(iqn\.\d{4}-\d{2}\.[a-z0-9][a-z0-9.-]*(:[^\s]*)?|eui\.[0-9a-f]{16}|naa\.[0-9a-f]{16}([0-9a-f]{16})?)$/i;

/**
 * Why a Full Feature Phase Text Request cannot be answered with keys, or undefined when it can. Only SendTargets
 * (value All, an iSCSI name or empty: RFC 7143 13.3, Appendix C), the declarative MaxRecvDataSegmentLength and
 * vendor-specific X- / X# keys (answered NotUnderstood) belong there; anything else (a misspelt or mis-cased key,
 * an operational key that is only negotiated at login) is a protocol error, refused with Reject as LIO does: an
 * initiator waiting for SendTargets gets a clear failure, where a reply with NotUnderstood would not parse as one.
 */
function refuseFullFeatureText(pairs: readonly KeyValue[]): string | undefined {
  for (const [key, value] of pairs) {
    if (key === 'SendTargets') {
      if (value !== 'All' && value !== '' && !ISCSI_NAME.test(value)) return `SendTargets=${value}: not All, an iSCSI name or empty`;
    } else if (key !== 'MaxRecvDataSegmentLength' && !key.startsWith('X-') && !key.startsWith('X#')) {
      return `key ${key} is not valid in a Full Feature Phase Text Request`;
    }
  }
  return undefined;
}
