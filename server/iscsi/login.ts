import { type ChapCredentials, chapResponse, decodeBinary, decodeIdentifier, encodeHex, newChallenge, pickAlgorithm, responsesEqual } from './chap.ts';
import { DEFAULT_PARAMS, negotiate, type SessionParams } from './negotiation.ts';
import { LoginStatus, Stage, type LoginRequestPdu } from './pdu/login.ts';
import { LIMITS } from './constants.ts';
import { parseKeys, TextFormatError, type KeyValue } from './text-keys.ts';

/** Who may log in to one target, and how. */
export interface TargetAccess {
  targetName: string;
  chap?: ChapCredentials;
  mutualChap?: ChapCredentials;
  /** Initiator names allowed into normal sessions; empty or undefined lets anyone in. */
  acl?: readonly string[];
}

/**
 * What login needs to know about the targets behind the portal. Its own TargetAccess is the first target's: the one
 * discovery sessions authenticate with; a normal session gets the access of the target its TargetName names.
 */
export interface LoginPolicy extends TargetAccess {
  portalGroupTag: number;
  /** The target a normal session names (several targets in one instance); default: only `targetName` itself. */
  findTarget?(name: string): TargetAccess | undefined;
  /** True if a session with this TSIH exists (a login with TSIH != 0 adds to it). */
  sessionExists(tsih: number): boolean;
  /** Why a CHAP response from this initiator is not checked now (too many recent failures, auth-throttle.ts). */
  chapRefusal?(initiatorName: string): string | undefined;
}

/** The answer to one Login Request. `status` non-zero ends the login with that Login Response status. */
interface LoginStep {
  status: number;
  /** Human-readable reason for a failed status, for logs and the trace. */
  reason?: string;
  transit: boolean;
  csg: number;
  nsg: number;
  answers: KeyValue[];
  /** True when this response moves the connection into Full Feature Phase. */
  complete: boolean;
  /** Security failures are answered after a delay so guessing secrets is slow. */
  authFailure?: boolean;
  /** A CHAP response was checked and was wrong: a guess, counted across connections (auth-throttle.ts). */
  wrongSecret?: boolean;
}

type Security = 'none-yet' | 'chap-wait-algorithm' | 'chap-wait-response' | 'done';

/**
 * The target side of the login phase (RFC 7143 6.3, 12): security negotiation with CHAP, operational
 * negotiation, stage transitions. Pure: request in, step out; the connection does the I/O and session binding.
 */
export class LoginMachine {
  readonly params: SessionParams = { ...DEFAULT_PARAMS };
  initiatorName = '';
  initiatorAlias = '';
  sessionType: 'Normal' | 'Discovery' = 'Normal';
  stage: number | undefined;
  private security: Security = 'none-yet';
  private chapAlgorithm = 0;
  private chapId = 0;
  private chapChallenge: Buffer = Buffer.alloc(0);
  private declaredMrdsl = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private first = true;

  /** The target this login is for: the policy's own until a normal session names another. */
  private access: TargetAccess;

  constructor(private readonly policy: LoginPolicy) {
    this.access = policy;
  }

  /** The target the session logs in to (for a discovery session, the first target). */
  get targetName(): string {
    return this.access.targetName;
  }

  get authenticated(): boolean {
    return this.security === 'done';
  }

  step(req: LoginRequestPdu): LoginStep {
    const fail = (status: number, reason: string, authFailure = false, answers: KeyValue[] = []): LoginStep => ({
      status,
      reason,
      transit: false,
      csg: req.csg,
      nsg: req.nsg,
      answers,
      complete: false,
      authFailure,
    });
    if (this.first) {
      // Version 0x00 is the only one RFC 7143 defines (11.12.4).
      if (req.versionMin > 0) return fail(LoginStatus.UnsupportedVersion, `version ${req.versionMin} unsupported`);
      if (req.tsih !== 0 && !this.policy.sessionExists(req.tsih)) return fail(LoginStatus.SessionDoesNotExist, `no session with TSIH ${req.tsih}`);
    }
    if (req.csg === Stage.FullFeature || req.csg === 2) return fail(LoginStatus.InitiatorError, `invalid CSG ${req.csg}`);
    if (this.stage !== undefined && req.csg < this.stage) return fail(LoginStatus.InitiatorError, 'login stage went backwards');
    if (req.transit && (req.nsg === 2 || req.nsg <= req.csg)) return fail(LoginStatus.InitiatorError, `invalid NSG ${req.nsg}`);
    this.stage = req.csg;

    // Continued text (C bit, RFC 7143 11.12.2): gather until the last piece, answering each with an empty response.
    this.pendingBytes += req.data.length;
    if (this.pendingBytes > LIMITS.maxTextBytes) return fail(LoginStatus.InitiatorError, 'login text too long');
    this.pending.push(Buffer.from(req.data));
    if (req.continue) return { status: 0, transit: false, csg: req.csg, nsg: req.nsg, answers: [], complete: false };
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;

    let pairs: KeyValue[];
    try {
      pairs = parseKeys(data);
    } catch (err) {
      return fail(LoginStatus.InitiatorError, err instanceof TextFormatError ? err.message : String(err));
    }
    const answers: KeyValue[] = [];
    const chapPairs = new Map<string, string>();
    const operational: KeyValue[] = [];
    for (const kv of pairs) {
      if (kv[0].startsWith('CHAP_')) chapPairs.set(kv[0], kv[1]);
      else operational.push(kv);
    }
    const negotiated = negotiate(operational, this.params);
    if (!negotiated.ok) return fail(negotiated.status, negotiated.reason);
    const d = negotiated.declared;

    if (this.first) {
      this.first = false;
      const name = d.get('InitiatorName');
      if (!name) return fail(LoginStatus.MissingParameter, 'InitiatorName missing from the first Login Request');
      this.initiatorName = name;
      this.initiatorAlias = d.get('InitiatorAlias') ?? '';
      const type = d.get('SessionType') ?? 'Normal';
      if (type !== 'Normal' && type !== 'Discovery') return fail(LoginStatus.SessionTypeNotSupported, `SessionType ${type}`);
      this.sessionType = type;
      if (type === 'Normal') {
        const target = d.get('TargetName');
        if (!target) return fail(LoginStatus.MissingParameter, 'TargetName missing for a normal session');
        const found = this.policy.findTarget ? this.policy.findTarget(target) : target === this.policy.targetName ? this.policy : undefined;
        if (!found) return fail(LoginStatus.NotFound, `no target named ${target}`);
        this.access = found;
        const acl = found.acl;
        if (acl && acl.length > 0 && !acl.includes(name)) return fail(LoginStatus.AuthorizationFailure, `initiator ${name} not in the ACL`);
        // RFC 7143 13.9: the first response of a normal session names the portal group.
        answers.push(['TargetPortalGroupTag', String(this.policy.portalGroupTag)]);
      }
      if (req.csg === Stage.Operational && this.access.chap) return fail(LoginStatus.AuthenticationFailure, 'authentication required', true);
      if (req.csg === Stage.Operational) this.security = 'done';
    }

    if (req.csg === Stage.Security) {
      const r = this.securityStep(d.get('AuthMethod'), chapPairs, answers);
      if (r) return { ...fail(r.status, r.reason, true, answers), wrongSecret: r.wrongSecret === true };
    }
    answers.push(...negotiated.answers);
    if (req.csg === Stage.Operational && !this.declaredMrdsl) {
      answers.push(['MaxRecvDataSegmentLength', String(LIMITS.maxRecvDataSegmentLength)]);
      this.declaredMrdsl = true;
    }

    if (!req.transit) return { status: 0, transit: false, csg: req.csg, nsg: req.nsg, answers, complete: false };
    if (this.security !== 'done') {
      // The initiator asked to move on before authenticating: stay in the security stage (RFC 7143 6.3).
      if (this.security === 'none-yet') return fail(LoginStatus.AuthenticationFailure, 'no AuthMethod agreed', true);
      return { status: 0, transit: false, csg: req.csg, nsg: req.nsg, answers, complete: false };
    }
    if (req.nsg === Stage.FullFeature && !this.declaredMrdsl) {
      answers.push(['MaxRecvDataSegmentLength', String(LIMITS.maxRecvDataSegmentLength)]);
      this.declaredMrdsl = true;
    }
    return { status: 0, transit: true, csg: req.csg, nsg: req.nsg, answers, complete: req.nsg === Stage.FullFeature };
  }

  /** Returns a failure, or undefined with answers appended. */
  private securityStep(
    authMethod: string | undefined,
    chap: Map<string, string>,
    answers: KeyValue[],
  ): { status: number; reason: string; wrongSecret?: boolean } | undefined {
    const required = this.access.chap !== undefined;
    if (authMethod !== undefined) {
      const offered = authMethod.split(',');
      let pick: string | undefined;
      if (required) pick = offered.includes('CHAP') ? 'CHAP' : undefined;
      else pick = offered.includes('None') ? 'None' : undefined;
      if (!pick) {
        answers.push(['AuthMethod', 'Reject']);
        return { status: LoginStatus.AuthenticationFailure, reason: `AuthMethod ${authMethod} not acceptable` };
      }
      answers.push(['AuthMethod', pick]);
      this.security = pick === 'CHAP' ? 'chap-wait-algorithm' : 'done';
    } else if (this.security === 'none-yet') {
      if (required) return { status: LoginStatus.AuthenticationFailure, reason: 'authentication required' };
      this.security = 'done';
    }

    if (this.security === 'chap-wait-algorithm' && chap.has('CHAP_A')) {
      const algorithm = pickAlgorithm(chap.get('CHAP_A')!);
      if (algorithm === undefined) {
        answers.push(['CHAP_A', 'Reject']);
        return { status: LoginStatus.AuthenticationFailure, reason: `no supported CHAP_A in ${chap.get('CHAP_A')}` };
      }
      const { id, challenge } = newChallenge(algorithm);
      this.chapAlgorithm = algorithm;
      this.chapId = id;
      this.chapChallenge = challenge;
      answers.push(['CHAP_A', String(algorithm)], ['CHAP_I', String(id)], ['CHAP_C', encodeHex(challenge)]);
      this.security = 'chap-wait-response';
      return undefined;
    }
    if (this.security === 'chap-wait-response') {
      const name = chap.get('CHAP_N');
      const response = chap.get('CHAP_R');
      if (name === undefined || response === undefined) return { status: LoginStatus.AuthenticationFailure, reason: 'CHAP_N/CHAP_R missing' };
      // Refused unchecked while this initiator has guessed wrong too often: the answer tells nothing about the secret.
      const throttled = this.policy.chapRefusal?.(this.initiatorName);
      if (throttled) return { status: LoginStatus.AuthenticationFailure, reason: throttled };
      const creds = this.access.chap!;
      const got = decodeBinary(response);
      const want = chapResponse(this.chapAlgorithm, this.chapId, creds.secret, this.chapChallenge);
      if (name !== creds.user || !got || !responsesEqual(got, want))
        return {
          status: LoginStatus.AuthenticationFailure,
          reason: `CHAP authentication failed for user ${JSON.stringify(name.slice(0, 64))}`,
          wrongSecret: true,
        };
      const mutualId = chap.get('CHAP_I');
      const mutualChallenge = chap.get('CHAP_C');
      if (mutualId !== undefined || mutualChallenge !== undefined) {
        const mutual = this.access.mutualChap;
        if (!mutual) return { status: LoginStatus.AuthenticationFailure, reason: 'initiator asked for mutual CHAP, none configured' };
        const id = mutualId === undefined ? undefined : decodeIdentifier(mutualId);
        const c = mutualChallenge === undefined ? undefined : decodeBinary(mutualChallenge);
        if (id === undefined || !c || c.length === 0 || c.length > 1024)
          return { status: LoginStatus.AuthenticationFailure, reason: 'malformed mutual CHAP_I/CHAP_C' };
        // A challenge equal to ours would let the initiator replay our own answer (RFC 7143 12.1.3).
        if (c.equals(this.chapChallenge)) return { status: LoginStatus.AuthenticationFailure, reason: 'mutual CHAP challenge reflected' };
        answers.push(['CHAP_N', mutual.user], ['CHAP_R', encodeHex(chapResponse(this.chapAlgorithm, id, mutual.secret, c))]);
      }
      this.security = 'done';
    }
    return undefined;
  }
}
