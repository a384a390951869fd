import { createServer, type Server } from 'node:net';
import { Connection } from './connection.ts';
import type { LoginMachine, LoginPolicy } from './login.ts';
import { LoginStatus, type LoginRequestPdu } from './pdu/login.ts';
import { initiatorPortName, Session } from './session.ts';
import type { KeyValue } from './text-keys.ts';
import type { ScsiBackend, TargetContext } from './target-context.ts';
import type { PduEvent, SessionEvent, SessionEventKind } from './events.ts';
import type { Pdu } from './pdu.ts';
import type { ChapCredentials } from './chap.ts';
import { Tap } from '../trace/tap.ts';

export interface Portal {
  host: string;
  port: number;
}

export interface IscsiTargetOptions {
  targetName: string;
  /** Each portal is its own target portal group (TPGT = index + 1), so multipath sees two target ports. */
  portals: Portal[];
  scsi: ScsiBackend;
  lunCount: number;
  chap?: ChapCredentials;
  mutualChap?: ChapCredentials;
  acl?: string[];
  log?: (message: string) => void;
}

/**
 * The iSCSI target: portals listening, the session registry (reinstatement, RFC 7143 6.3.5), SendTargets,
 * and the taps through which every PDU and session event leaves sideways.
 */
export class IscsiTarget implements TargetContext {
  readonly taps = { pdu: new Tap<PduEvent>('iscsi.pdu'), session: new Tap<SessionEvent>('iscsi.session') };
  readonly scsi: ScsiBackend;
  readonly lunCount: number;
  private readonly servers: Server[] = [];
  private readonly sessions = new Map<number, Session>();
  private readonly live = new Set<Connection>();
  private nextTsih = 1;
  /** Actual listening addresses (port 0 resolved), in portal order. */
  readonly listening: Portal[] = [];

  constructor(private readonly opts: IscsiTargetOptions) {
    this.scsi = opts.scsi;
    this.lunCount = opts.lunCount;
  }

  async listen(): Promise<void> {
    for (const [i, portal] of this.opts.portals.entries()) {
      const tpgt = i + 1;
      const server = createServer({ noDelay: true }, (socket) => {
        const conn = new Connection(socket, this, tpgt);
        this.live.add(conn);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(portal.port, portal.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.log(`portal ${portal.host}:${portal.port}: ${err.message}`));
      const addr = server.address();
      this.listening.push({ host: portal.host, port: typeof addr === 'object' && addr ? addr.port : portal.port });
      this.servers.push(server);
    }
  }

  /** Stops accepting, waits for in-flight commands on every connection, then closes them. */
  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    const conns = [...this.live];
    await Promise.all(conns.map((c) => c.tasks.drain()));
    for (const c of conns) c.close('target shutting down');
  }

  get sessionList(): readonly Session[] {
    return [...this.sessions.values()];
  }

  // ---- TargetContext ----

  loginPolicy(portalGroupTag: number): Omit<LoginPolicy, 'sessionExists'> {
    return { targetName: this.opts.targetName, portalGroupTag, chap: this.opts.chap, mutualChap: this.opts.mutualChap, acl: this.opts.acl };
  }

  sessionExists(tsih: number): boolean {
    return this.sessions.has(tsih);
  }

  bindSession(conn: Connection, login: LoginMachine, req: LoginRequestPdu): Session | number {
    if (req.tsih !== 0) {
      const existing = this.sessions.get(req.tsih);
      if (!existing || existing.initiatorName !== login.initiatorName || !existing.isid.equals(req.isid)) return LoginStatus.SessionDoesNotExist;
      // Connection reinstatement (RFC 7143 6.3.4): the same CID replaces its old connection.
      const old = [...existing.connections].find((c) => c.cid === req.cid);
      if (!old && existing.connections.size >= existing.params.maxConnections) return LoginStatus.TooManyConnections;
      if (old) {
        existing.connections.delete(old);
        old.close('connection reinstated');
      }
      existing.connections.add(conn);
      return existing;
    }
    const portName = initiatorPortName(login.initiatorName, req.isid);
    // Session reinstatement (RFC 7143 6.3.5): same initiator port, same portal group, TSIH 0 -> the old one goes.
    for (const s of this.sessions.values()) {
      if (s.nexus.initiatorPort === portName && s.nexus.relativeTargetPort === conn.portalGroupTag) {
        this.sessionEvent(conn, 'reinstated', `session TSIH ${s.tsih} replaced by a new login`);
        this.endSession(s, 'session reinstated');
      }
    }
    let tsih = this.nextTsih;
    while (this.sessions.has(tsih)) tsih = tsih >= 0xffff ? 1 : tsih + 1;
    this.nextTsih = tsih >= 0xffff ? 1 : tsih + 1;
    const nexus = {
      id: `${portName},t,0x${conn.portalGroupTag.toString(16).padStart(4, '0')}`,
      initiatorName: login.initiatorName,
      initiatorPort: portName,
      relativeTargetPort: conn.portalGroupTag,
    };
    const session = new Session(tsih, Buffer.from(req.isid), login.initiatorName, login.sessionType, login.params, nexus, req.cmdSN);
    session.connections.add(conn);
    this.sessions.set(tsih, session);
    return session;
  }

  private endSession(s: Session, why: string): void {
    if (s.closed) return;
    s.closed = true;
    this.sessions.delete(s.tsih);
    for (const c of [...s.connections]) c.close(why);
    if (s.type === 'Normal') this.scsi.nexusLost(s.nexus);
  }

  connectionClosed(conn: Connection, why: string): void {
    this.live.delete(conn);
    const s = conn.session;
    this.sessionEvent(conn, 'closed', why);
    if (!s) return;
    s.connections.delete(conn);
    // ERL 0: a session lives exactly as long as its connections (no Time2Retain).
    if (s.connections.size === 0) this.endSession(s, why);
  }

  sendTargets(value: string, sessionType: 'Normal' | 'Discovery', portalGroupTag: number): KeyValue[] {
    const name = this.opts.targetName;
    // RFC 7143 13.3: "All" lists every target (discovery sessions), a name lists that one, empty means this one.
    if (value !== 'All' && value !== '' && value !== name) return [];
    if (value === 'All' && sessionType === 'Normal') {
      // In a normal session "All" is not defined; answer for the session's own target, as most targets do.
    }
    const out: KeyValue[] = [['TargetName', name]];
    for (const [i, p] of this.listening.entries()) {
      const tpgt = i + 1;
      if (sessionType === 'Normal' && value === '' && tpgt !== portalGroupTag) continue;
      const host = p.host.includes(':') ? `[${p.host}]` : p.host;
      out.push(['TargetAddress', `${host}:${p.port},${tpgt}`]);
    }
    return out;
  }

  connections(): Iterable<Connection> {
    return this.live;
  }

  coldReset(): void {
    // After the response has been written: drop every connection of every session (RFC 7143 11.5.1).
    setImmediate(() => {
      for (const s of [...this.sessions.values()]) this.endSession(s, 'TARGET COLD RESET');
    });
  }

  pduEvent(conn: Connection, direction: 'in' | 'out', pdu: Pdu): void {
    if (!this.taps.pdu.active) return;
    this.taps.pdu.emit({
      direction, connectionId: conn.id, tsih: conn.tsih, address: conn.address, timeNs: process.hrtime.bigint(), pdu,
      headerDigest: conn.headerDigest, dataDigest: conn.dataDigest,
    });
  }

  sessionEvent(conn: Connection, kind: SessionEventKind, detail: string, initiatorName?: string): void {
    if (!this.taps.session.active) return;
    this.taps.session.emit({
      kind, connectionId: conn.id, tsih: conn.tsih, initiatorName: initiatorName ?? conn.initiatorName, address: conn.address,
      timeNs: process.hrtime.bigint(), detail,
    });
  }

  log(message: string): void {
    (this.opts.log ?? ((m: string) => process.stderr.write(`${m}\n`)))(message);
  }
}
