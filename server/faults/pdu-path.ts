/**
 * PDU faults on one iSCSI connection: the connection hands every PDU it sends or receives here while the engine is
 * active, and this decides whether it passes, is dropped, delayed, duplicated, reordered, corrupted, or takes the
 * connection down with it. What the connection must offer is the small FaultPort below; nothing here knows the
 * connection class.
 */
import { CORRUPTIBLE_FIELDS, pduKey, type FaultRuleInfo } from '../../shared/api/faults.ts';
import { decodeCdb } from '../../shared/protocol/cdb.ts';
import { iscsiOpcodeName, lunNumber } from '../../shared/protocol/iscsi.ts';
import type { FaultEngine, PduFacts } from './engine.ts';
import type { Pdu } from '../iscsi/pdu.ts';
import type { DigestCorruption, FaultPort, PduFaultPath, PduFaults } from '../iscsi/pdu-faults.ts';
import { IscsiOpcode, ISCSI_OPCODE_MASK } from '../../shared/protocol/iscsi-opcodes.ts';

export type { DigestCorruption, FaultPort };

/** Offsets in the BHS (RFC 7143 11.2.1). */
const ITT_OFFSET = 16;
const LUN_OFFSET = 8;
const CDB_OFFSET = 32;
const RESERVED_TAG = 0xffffffff;
/** PDUs whose word at 36 is DataSN / R2TSN rather than StatSN. */
const DATA_PDUS = new Set<number>([IscsiOpcode.ScsiDataOut, IscsiOpcode.ScsiDataIn, IscsiOpcode.R2T]);
/** A held PDU (reorder) goes out on its own if no later PDU of its task comes within this time. */
const REORDER_MAX_HOLD_MS = 1000;
/** Bytes of delayed PDUs one connection may hold; past it, matching PDUs pass undelayed (a flood must not grow memory). */
const MAX_DELAYED_BYTES = 64 * 1024 * 1024;

export class ConnectionFaults implements PduFaultPath {
  /** Reorder: PDUs held back per ITT until the next PDU of the same task passes. */
  private readonly held = new Map<number, { pdu: Pdu; timer: NodeJS.Timeout; rule: FaultRuleInfo; onFlushed: (() => void) | undefined }>();
  /** Bytes in delayed copies not yet sent or handled. */
  private delayedBytes = 0;

  constructor(
    private readonly engine: FaultEngine,
    private readonly port: FaultPort,
  ) {}

  /** An outgoing PDU; returns true when the fault path took it (sent it itself, later, or never). */
  out(pdu: Pdu, onFlushed?: () => void): boolean {
    const itt = pdu.bhs.readUInt32BE(ITT_OFFSET);
    if (this.held.size > 0 && this.held.has(itt)) {
      // Reorder: the next PDU of the held one's task goes first, then the held one.
      this.port.transmit(pdu, onFlushed);
      this.release(itt);
      return true;
    }
    const rule = this.engine.matchPdu(this.facts(pdu, 'out'));
    if (!rule) return false;
    const name = iscsiOpcodeName(pdu.bhs[0]! & ISCSI_OPCODE_MASK);
    const what = `${name}${itt !== RESERVED_TAG ? ` ITT 0x${itt.toString(16)}` : ''}`;
    switch (rule.action) {
      case 'drop':
        onFlushed?.();
        this.note(rule, pdu, `${what} dropped by the target (never sent)`);
        return true;
      case 'delay': {
        const ms = rule.delayMs ?? 1000;
        const release = this.hold(pdu, rule, what);
        if (!release) return false;
        setTimeout(() => {
          const copy = release();
          // transmit() lets go of the budget itself when the connection has closed meanwhile.
          this.port.transmit(copy, onFlushed);
          if (!this.port.closed) this.note(rule, copy, `${what} sent ${ms} ms late`);
        }, ms).unref();
        return true;
      }
      case 'duplicate':
        this.port.transmit(pdu);
        this.port.transmit(pdu, onFlushed);
        this.note(rule, pdu, `${what} sent twice`);
        return true;
      case 'reorder': {
        if (itt === RESERVED_TAG) {
          this.port.transmit(pdu, onFlushed);
          this.note(rule, pdu, `${what}: no task to reorder within, sent in order`);
          return true;
        }
        const timer = setTimeout(() => this.release(itt), REORDER_MAX_HOLD_MS);
        timer.unref();
        this.held.set(itt, { pdu: copyPdu(pdu), timer, rule, onFlushed });
        this.engine.hold(true);
        return true;
      }
      case 'corrupt-header-digest':
      case 'corrupt-data-digest': {
        const kind: DigestCorruption = rule.action === 'corrupt-header-digest' ? 'header' : 'data';
        const negotiated = kind === 'header' ? this.port.headerDigest : this.port.dataDigest && pdu.data.length > 0;
        this.port.transmit(pdu, onFlushed, negotiated ? kind : undefined);
        this.note(rule, pdu, negotiated ? `${what} sent with a wrong ${kind} digest` : `${what}: no ${kind} digest negotiated, nothing to corrupt`);
        return true;
      }
      case 'corrupt-field': {
        const { copy, field } = corruptField(pdu, rule.field);
        this.port.transmit(copy, onFlushed);
        this.note(rule, copy, `${what} sent with ${field} changed`);
        return true;
      }
      case 'kill-connection':
        onFlushed?.();
        this.note(rule, pdu, `${what} not sent: connection killed (${rule.how ?? 'reset'})`);
        this.port.kill(rule.how ?? 'reset', `fault: kill-connection on ${what}`);
        return true;
      default:
        return false;
    }
  }

  /** A received PDU, already in the trace; returns true when the fault path took it. */
  in(pdu: Pdu): boolean {
    const rule = this.engine.matchPdu(this.facts(pdu, 'in'));
    if (!rule) return false;
    const itt = pdu.bhs.readUInt32BE(ITT_OFFSET);
    const what = `${iscsiOpcodeName(pdu.bhs[0]! & ISCSI_OPCODE_MASK)}${itt !== RESERVED_TAG ? ` ITT 0x${itt.toString(16)}` : ''}`;
    switch (rule.action) {
      case 'drop':
        this.note(rule, pdu, `${what} received, then dropped by the target (never handled)`);
        return true;
      case 'delay': {
        // Framing reuses its buffers once this returns: keep a copy.
        const ms = rule.delayMs ?? 1000;
        const release = this.hold(pdu, rule, what);
        if (!release) return false;
        this.note(rule, pdu, `${what} held ${ms} ms before the target handles it`);
        setTimeout(() => {
          const copy = release();
          if (!this.port.closed) this.port.dispatch(copy);
        }, ms).unref();
        return true;
      }
      case 'duplicate': {
        const copy = copyPdu(pdu);
        this.note(rule, pdu, `${what} handled twice`);
        this.port.dispatch(pdu);
        if (!this.port.closed) this.port.dispatch(copy);
        return true;
      }
      case 'reorder':
        // Incoming PDUs are handled in arrival order by design; holding one back is `delay`.
        this.note(rule, pdu, `${what}: reorder acts on PDUs the target sends; handled in order`);
        return false;
      case 'corrupt-header-digest':
      case 'corrupt-data-digest': {
        const kind: DigestCorruption = rule.action === 'corrupt-header-digest' ? 'header' : 'data';
        this.note(rule, pdu, `${what} treated as arriving with a wrong ${kind} digest`);
        this.port.digestFailed(kind, pdu);
        return true;
      }
      case 'corrupt-field': {
        const { copy, field } = corruptField(pdu, rule.field);
        this.note(rule, pdu, `${what} handled with ${field} changed`);
        this.port.dispatch(copy);
        return true;
      }
      case 'kill-connection':
        this.note(rule, pdu, `${what} received: connection killed (${rule.how ?? 'reset'})`);
        this.port.kill(rule.how ?? 'reset', `fault: kill-connection on ${what}`);
        return true;
      default:
        return false;
    }
  }

  /** The connection closed: held PDUs are gone with it. */
  close(): void {
    for (const [itt, h] of this.held) {
      clearTimeout(h.timer);
      this.held.delete(itt);
      this.engine.hold(false);
      h.onFlushed?.();
    }
  }

  /** A copy kept for `delay`, counted against MAX_DELAYED_BYTES; undefined (noted) when the connection holds too much. */
  private hold(pdu: Pdu, rule: FaultRuleInfo, what: string): (() => Pdu) | undefined {
    const size = pdu.bhs.length + pdu.ahs.length + pdu.data.length;
    if (this.delayedBytes + size > MAX_DELAYED_BYTES) {
      this.note(rule, pdu, `${what} not delayed: ${MAX_DELAYED_BYTES} bytes already held on this connection`);
      return undefined;
    }
    this.delayedBytes += size;
    const copy = copyPdu(pdu);
    return () => {
      this.delayedBytes -= size;
      return copy;
    };
  }

  private release(itt: number): void {
    const h = this.held.get(itt);
    if (!h) return;
    clearTimeout(h.timer);
    this.held.delete(itt);
    this.engine.hold(false);
    this.port.transmit(h.pdu, h.onFlushed);
    if (this.port.closed) return;
    const name = iscsiOpcodeName(h.pdu.bhs[0]! & ISCSI_OPCODE_MASK);
    this.note(h.rule, h.pdu, `${name} ITT 0x${itt.toString(16)} sent after the task's next PDU (reordered)`);
  }

  private facts(pdu: Pdu, direction: 'in' | 'out'): PduFacts {
    const bhs = pdu.bhs;
    const opcode = bhs[0]! & ISCSI_OPCODE_MASK;
    return {
      direction,
      pduKey: pduKey(iscsiOpcodeName(opcode)),
      tsih: this.port.tsih,
      task: () => this.taskOf(bhs),
    };
  }

  private taskOf(bhs: Buffer): { lun: number; opcode: number; lba?: number; blocks?: number } | undefined {
    let lun: number;
    let cdb: Uint8Array;
    if ((bhs[0]! & ISCSI_OPCODE_MASK) === IscsiOpcode.ScsiCommand) {
      lun = lunNumber(bhs, LUN_OFFSET) ?? -1;
      cdb = bhs.subarray(CDB_OFFSET);
    } else {
      const cmd = this.port.commandOf(bhs.readUInt32BE(ITT_OFFSET));
      if (!cmd) return undefined;
      lun = cmd.lun;
      cdb = cmd.cdb;
    }
    const d = decodeCdb(cdb);
    return { lun, opcode: d.opcode, lba: d.lba, blocks: d.blocks };
  }

  private note(rule: FaultRuleInfo, pdu: Pdu, detail: string): void {
    const itt = pdu.bhs.readUInt32BE(ITT_OFFSET);
    const task = rule.match.lun !== undefined || rule.match.lbaFrom !== undefined ? this.taskOf(pdu.bhs) : undefined;
    this.engine.report({
      ruleId: rule.id,
      action: rule.action,
      detail,
      connectionId: this.port.id,
      tsih: this.port.tsih,
      itt: itt !== RESERVED_TAG ? itt : undefined,
      lun: task?.lun,
      lba: task?.lba,
      blocks: task?.blocks,
    });
  }
}

function copyPdu(pdu: Pdu): Pdu {
  return { bhs: Buffer.from(pdu.bhs), ahs: Buffer.from(pdu.ahs), data: Buffer.from(pdu.data) };
}

/** A copy of the PDU with one BHS field changed: SNs and tags move by one, BufferOffset by a block. */
function corruptField(pdu: Pdu, wanted: string | undefined): { copy: Pdu; field: string } {
  const opcode = pdu.bhs[0]! & ISCSI_OPCODE_MASK;
  const field = wanted ?? (DATA_PDUS.has(opcode) ? 'DataSN' : 'StatSN');
  const at = CORRUPTIBLE_FIELDS[field]!;
  const copy = { ...pdu, bhs: Buffer.from(pdu.bhs) };
  const step = field === 'BufferOffset' ? 512 : 1;
  copy.bhs.writeUInt32BE((copy.bhs.readUInt32BE(at) + step) >>> 0, at);
  return { copy, field };
}

/** The engine's PDU rules as the iSCSI target takes them (server/iscsi/pdu-faults.ts): one path per connection. */
export function pduFaultsOf(engine: FaultEngine): PduFaults {
  return {
    get active() {
      return engine.active;
    },
    attach: (port) => new ConnectionFaults(engine, port),
  };
}
