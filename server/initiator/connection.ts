import { connect, type Socket } from 'node:net';
import { PduReader, serializePdu } from '../iscsi/framing.ts';
import type { Pdu } from '../iscsi/pdu.ts';

/**
 * The initiator's side of one TCP connection: PDUs out with the negotiated digests, PDUs in to a handler.
 * A close or a framing error fails everything still waiting, with the reason.
 */
export class InitiatorConnection {
  headerDigest = false;
  dataDigest = false;
  private readonly reader: PduReader;
  private onPdu: (pdu: Pdu) => void = () => undefined;
  private closeHandlers: ((why: Error) => void)[] = [];
  closedWith: Error | undefined;

  private constructor(private readonly socket: Socket) {
    this.reader = new PduReader({
      pdu: (pdu) => this.onPdu(pdu),
      error: (err) => this.fail(new Error(`framing error from target: ${err.kind}`)),
    });
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.reader.push(c));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by target')));
  }

  static async open(host: string, port: number, timeoutMs = 10_000): Promise<InitiatorConnection> {
    const socket = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`connect to ${host}:${port}: ${err.message}`));
      });
    });
    return new InitiatorConnection(socket);
  }

  setHandler(fn: (pdu: Pdu) => void): void {
    this.onPdu = fn;
  }

  onClose(fn: (why: Error) => void): void {
    this.closeHandlers.push(fn);
  }

  enableDigests(header: boolean, data: boolean): void {
    this.headerDigest = this.reader.headerDigest = header;
    this.dataDigest = this.reader.dataDigest = data;
  }

  send(pdu: Pdu): void {
    if (this.closedWith) throw this.closedWith;
    this.socket.cork();
    for (const part of serializePdu(pdu, this.headerDigest, this.dataDigest)) this.socket.write(part);
    this.socket.uncork();
  }

  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    this.reader.stop();
    this.socket.destroy();
    for (const h of this.closeHandlers) h(err);
  }

  close(): void {
    this.fail(new Error('connection closed by initiator'));
  }

  get local(): { address: string; port: number } {
    return { address: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 };
  }
}
