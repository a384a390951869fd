import type { Pdu } from './pdu.ts';

/** Endpoint addresses of one TCP connection, as the trace needs them for pcapng framing. */
export interface ConnectionAddress {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/**
 * One PDU crossing the target. `pdu` slices may point into receive buffers that are reused once the listener
 * returns: a listener that keeps bytes must copy them synchronously.
 */
export interface PduEvent {
  direction: 'in' | 'out';
  connectionId: number;
  /** 0 until the session exists (login phase). */
  tsih: number;
  address: ConnectionAddress;
  /** process.hrtime.bigint() at receive or send. */
  timeNs: bigint;
  pdu: Pdu;
  headerDigest: boolean;
  dataDigest: boolean;
}

export type SessionEventKind = 'connected' | 'login' | 'login-failed' | 'logout' | 'closed' | 'reinstated' | 'task-management' | 'protocol-error';

export interface SessionEvent {
  kind: SessionEventKind;
  connectionId: number;
  tsih: number;
  initiatorName: string;
  address: ConnectionAddress;
  timeNs: bigint;
  detail: string;
}
