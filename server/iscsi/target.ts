import { createServer, type Server, type Socket } from 'node:net';
import { LIMITS } from './constants.ts';
import { Connection } from './connection.ts';
import type { LoginMachine, LoginPolicy } from './login.ts';
import { LoginStatus, type LoginRequestPdu } from './pdu/login.ts';
import { initiatorPortName, Session } from './session.ts';
import type { KeyValue } from './text-keys.ts';
import type { IscsiTargetEntry, ScsiBackend, TargetContext } from './target-context.ts';
import type { PduEvent, SessionEvent, SessionEventKind } from './events.ts';
import type { Pdu } from './pdu.ts';
import type { ChapCredentials } from './chap.ts';
import { Tap } from '../taps/tap.ts';
import { NO_STEP_HOLD, type StepHold } from '../taps/step-hold.ts';
import type { PduFaults } from './pdu-faults.ts';
import { AuthThrottle } from './auth-throttle.ts';
import { DataBudget, defaultDataInFlight } from './data-budget.ts';

export interface Portal {
  host: string;
  port: number;
}

export interface IscsiTargetOptions {
  targetName: string;
  /** Each portal is its own target portal group (TPGT = index + 1), so multipath sees two target ports. */
  portals: Portal[];
  scsi: ScsiBackend;
  chap?: ChapCredentials;
  mutualChap?: ChapCredentials;
  acl?: string[];
  /**
   * More targets behind the same portals, each its own name, SCSI target device (LUs), CHAP and ACL. The one above
   * is the first: discovery sessions authenticate with its CHAP.
   */
  moreTargets?: IscsiTargetEntry[];
  /**
   * Carry out TARGET WARM RESET and TARGET COLD RESET (default false: refused with "function rejected"): either one
   * drops every initiator's tasks, and cold also their sessions, which one student must not do to a whole class.
   */
  allowTargetReset?: boolean;
  /** Caps on what initiators may hold open; defaults in TARGET_LIMITS. */
  limits?: Partial<TargetLimits>;
  /** Fault rules applied to every connection's PDUs (server/faults, through pdu-faults.ts). */
  faults?: PduFaults;
  /** Step mode's holds of a task (server/taps/step-gate.ts), made by whoever runs the target; default: never held. */
  stepHold?: StepHold;
  log?: (message: string) => void;
}

/** What initiators together may hold open (`--max-sessions`, `--max-connections`, `--max-commands`). */
export interface TargetLimits {
  /** Sessions of any type at once; one more login is answered "out of resources" (RFC 7143 11.13.5, 0x0302). */
  maxSessions: number;
  /** TCP connections at once, logged in or not; over it, the oldest connection still logging in makes room. */
  maxConnections: number;
  /** Commands one session may have outstanding: its CmdSN window (MaxCmdSN) never opens wider (RFC 7143 4.2.2.1). */
  maxCommands: number;
  /**
   * Bytes of command data in flight on the whole target, read and write (data-budget.ts); past it, TASK SET FULL or
   * BUSY, and connections that hold data without progress are cut. Default: an eighth of memory, 128 MiB to 1 GiB.
   */
  maxDataInFlight: number;
}

/** How long shutdown waits for initiators to finish and leave on their own before it closes their connections. */
const SHUTDOWN_LOGOUT_GRACE_MS = 5000;
/** How long shutdown waits for answers already written to reach initiators before cutting their sockets. */
const SHUTDOWN_FLUSH_MS = 2000;

export const TARGET_LIMITS: TargetLimits = { maxSessions: 64, maxConnections: 256, maxCommands: LIMITS.commandWindow, maxDataInFlight: defaultDataInFlight() };

/**
 * The iSCSI target: portals listening, the session registry (reinstatement, RFC 7143 6.3.5), SendTargets,
 * and the taps through which every PDU and session event leaves sideways.
 */
export class IscsiTarget implements TargetContext<Connection, Session<Connection>> {
  readonly taps = { pdu: new Tap<PduEvent>('iscsi.pdu'), session: new Tap<SessionEvent>('iscsi.session') };
  readonly authThrottle = new AuthThrottle();
  readonly dataBudget: DataBudget;
  /** Every target by name, the first one first. */
  readonly targets = new Map<string, IscsiTargetEntry>();
  readonly allowTargetReset: boolean;
  readonly limits: TargetLimits;
  readonly faults: PduFaults | undefined;
  readonly stepHold: StepHold;
  private readonly servers: Server[] = [];
  private readonly sessions = new Map<number, Session<Connection>>();
  private readonly live = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  private nextTsih = 1;
  /** Actual listening addresses (port 0 resolved), in portal order. */
  readonly listening: Portal[] = [];

  constructor(private readonly opts: IscsiTargetOptions) {
    const first: IscsiTargetEntry = { targetName: opts.targetName, scsi: opts.scsi, chap: opts.chap, mutualChap: opts.mutualChap, acl: opts.acl };
    for (const t of [first, ...(opts.moreTargets ?? [])]) {
      if (this.targets.has(t.targetName)) throw new Error(`target ${t.targetName} configured twice`);
      this.targets.set(t.targetName, t);
    }
    this.allowTargetReset = opts.allowTargetReset ?? false;
    this.limits = { ...TARGET_LIMITS, ...opts.limits };
    this.faults = opts.faults;
    this.stepHold = opts.stepHold ?? NO_STEP_HOLD;
    this.dataBudget = new DataBudget(this.limits.maxDataInFlight, (m) => this.log(m));
  }

  async listen(): Promise<void> {
    this.dataBudget.start();
    for (const [i, portal] of this.opts.portals.entries()) {
      const tpgt = i + 1;
      const server = createServer({ noDelay: true }, (socket) => this.accept(socket, tpgt));
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

  private accept(socket: Socket, tpgt: number): void {
    if (this.live.size >= this.limits.maxConnections && !this.evictOneLogin()) {
      // Every slot holds a logged-in connection: refuse before reading a byte (bounded memory whatever arrives).
      this.log(`connection from ${socket.remoteAddress}:${socket.remotePort} refused: ${this.live.size} connections (--max-connections)`);
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.live.add(new Connection(socket, this, tpgt));
  }

  /**
   * Makes room by closing the oldest connection still in its login phase. A login takes milliseconds; one that
   * lingers (slowloris: a byte now and then, never finishing) is what a full table is made of, and must not keep
   * a real initiator out until the login timeout.
   */
  private evictOneLogin(): boolean {
    for (const c of this.live) {
      if (c.state !== 'login') continue;
      c.close(`evicted: ${this.live.size} connections (--max-connections) and a new one arrived before this one logged in`);
      return true;
    }
    return false;
  }

  /** Stops accepting, waits for in-flight commands on every connection, then closes them. */
  async close(): Promise<void> {
    this.dataBudget.stop();
    // server.close() stops accepting and calls back once every connection has ended.
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    // An initiator in the middle of a stream usually finishes and logs out within moments: let it, for a while.
    // One that stays (idle, or not reading) must not keep the target from exiting.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, SHUTDOWN_LOGOUT_GRACE_MS)))]);
    clearTimeout(timer);
    const conns = [...this.live];
    await Promise.all(conns.map((c) => c.tasks.drain()));
    for (const c of conns) c.close('target shutting down');
    // A reader that stopped reading would keep its socket open forever, waiting to flush: cut it after a grace period.
    timer = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, SHUTDOWN_FLUSH_MS);
    await closed;
    clearTimeout(timer);
  }

  get sessionList(): readonly Session<Connection>[] {
    return [...this.sessions.values()];
  }

  // ---- TargetContext ----

  loginPolicy(portalGroupTag: number): Omit<LoginPolicy, 'sessionExists'> {
    const first = this.firstTarget;
    return {
      targetName: first.targetName,
      portalGroupTag,
      chap: first.chap,
      mutualChap: first.mutualChap,
      acl: first.acl,
      findTarget: (name) => this.targets.get(name),
    };
  }

  private get firstTarget(): IscsiTargetEntry {
    return this.targets.values().next().value!;
  }

  sessionExists(tsih: number): boolean {
    return this.sessions.has(tsih);
  }

  bindSession(conn: Connection, login: LoginMachine, req: LoginRequestPdu): Session<Connection> | number {
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
    const target = this.targets.get(login.targetName) ?? this.firstTarget;
    // Session reinstatement (RFC 7143 6.3.5): same initiator port, same target portal group (target and TPGT),
    // TSIH 0 -> the old one goes.
    for (const s of this.sessions.values()) {
      if (s.nexus.initiatorPort === portName && s.nexus.relativeTargetPort === conn.portalGroupTag && s.target === target && s.type === login.sessionType) {
        this.sessionEvent(conn, 'reinstated', `session TSIH ${s.tsih} replaced by a new login`);
        this.endSession(s, 'session reinstated', true);
      }
    }
    if (this.sessions.size >= this.limits.maxSessions) return LoginStatus.OutOfResources;
    let tsih = this.nextTsih;
    while (this.sessions.has(tsih)) tsih = tsih >= 0xffff ? 1 : tsih + 1;
    this.nextTsih = tsih >= 0xffff ? 1 : tsih + 1;
    const nexus = {
      id: `${portName},t,0x${conn.portalGroupTag.toString(16).padStart(4, '0')}`,
      initiatorName: login.initiatorName,
      initiatorPort: portName,
      relativeTargetPort: conn.portalGroupTag,
    };
    const session = new Session<Connection>(
      tsih,
      Buffer.from(req.isid),
      login.initiatorName,
      login.sessionType,
      login.params,
      nexus,
      target,
      req.cmdSN,
      this.limits.maxCommands,
    );
    session.connections.add(conn);
    this.sessions.set(tsih, session);
    return session;
  }

  /** `loss`: the session ends without a logout, an I_T nexus loss its initiator port is told of later (SAM-5 6.3.4). */
  private endSession(s: Session<Connection>, why: string, loss: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.sessions.delete(s.tsih);
    for (const c of [...s.connections]) c.close(why);
    if (s.type === 'Normal') s.target.scsi.nexusLost(s.nexus, loss);
  }

  connectionClosed(conn: Connection, why: string): void {
    this.live.delete(conn);
    const s = conn.session;
    this.sessionEvent(conn, 'closed', why);
    if (!s) return;
    s.connections.delete(conn);
    // ERL 0: a session lives exactly as long as its connections (no Time2Retain).
    if (s.connections.size === 0) this.endSession(s, why, !conn.loggedOut);
  }

  sendTargets(value: string, sessionType: 'Normal' | 'Discovery', portalGroupTag: number, own: string): KeyValue[] {
    // RFC 7143 13.3: "All" lists every target, a name lists that one, empty means the session's own target (only
    // the portal group in use). In a normal session "All" is not defined; it lists every target too, as LIO does.
    const names = value === 'All' ? [...this.targets.keys()] : value === '' ? [own] : this.targets.has(value) ? [value] : [];
    const out: KeyValue[] = [];
    for (const name of names) {
      out.push(['TargetName', name]);
      for (const [i, p] of this.listening.entries()) {
        const tpgt = i + 1;
        if (sessionType === 'Normal' && value === '' && tpgt !== portalGroupTag) continue;
        const host = p.host.includes(':') ? `[${p.host}]` : p.host;
        out.push(['TargetAddress', `${host}:${p.port},${tpgt}`]);
      }
    }
    return out;
  }

  connections(): Iterable<Connection> {
    return this.live;
  }

  /** Serves one more target behind the same portals from now on (the management API). */
  addTarget(entry: IscsiTargetEntry): void {
    if (this.targets.has(entry.targetName)) throw new Error(`target ${entry.targetName} exists already`);
    this.targets.set(entry.targetName, entry);
  }

  /** Stops serving a target that is not the first: its sessions end (their initiators see the connections drop). */
  removeTarget(entry: IscsiTargetEntry): void {
    if (entry === this.firstTarget) throw new Error(`${entry.targetName} is the first target: it stays`);
    this.targets.delete(entry.targetName);
    for (const s of [...this.sessions.values()]) if (s.target === entry) this.endSession(s, 'target removed', true);
  }

  /**
   * A LUN of `target` goes away (the management API): its tasks on every connection are aborted, each with TASK
   * ABORTED status (SAM-5 5.3.3: aborted by an event outside the initiator). Resolves once SCSI let go of them.
   */
  async abortLun(target: IscsiTargetEntry, lun: number): Promise<void> {
    await Promise.all([...this.live].filter((c) => c.session?.target === target).flatMap((c) => c.tasks.abortWhere((t) => t.lun === lun, true)));
  }

  coldReset(target: IscsiTargetEntry): void {
    // After the response has been written: drop every connection of every session of that target (RFC 7143 11.5.1).
    setImmediate(() => {
      // A cold reset is a power cycle: the next logins are new nexuses (POWER ON ...), not nexus losses.
      for (const s of [...this.sessions.values()]) if (s.target === target) this.endSession(s, 'TARGET COLD RESET', false);
    });
  }

  pduEvent(conn: Connection, direction: 'in' | 'out', pdu: Pdu): void {
    if (!this.taps.pdu.active) return;
    this.taps.pdu.emit({
      direction,
      connectionId: conn.id,
      tsih: conn.tsih,
      address: conn.address,
      timeNs: process.hrtime.bigint(),
      pdu,
      headerDigest: conn.headerDigest,
      dataDigest: conn.dataDigest,
    });
  }

  sessionEvent(conn: Connection, kind: SessionEventKind, detail: string, initiatorName?: string): void {
    if (!this.taps.session.active) return;
    this.taps.session.emit({
      kind,
      connectionId: conn.id,
      tsih: conn.tsih,
      initiatorName: initiatorName ?? conn.initiatorName,
      address: conn.address,
      timeNs: process.hrtime.bigint(),
      detail,
    });
  }

  log(message: string): void {
    (this.opts.log ?? ((m: string) => process.stderr.write(`${m}\n`)))(message);
  }
}
