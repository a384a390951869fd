import { randomBytes } from 'node:crypto';
import { chapResponse, decodeBinary, decodeIdentifier, encodeHex, responsesEqual } from '../iscsi/chap.ts';
import { DEFAULT_PARAMS, type SessionParams } from '../iscsi/negotiation.ts';
import { decodeLoginResponse, encodeLoginRequest, Stage } from '../iscsi/pdu/login.ts';
import { encodeKeys, parseKeys, type KeyValue } from '../iscsi/text-keys.ts';
import type { InitiatorConnection } from './connection.ts';
import type { Pdu } from '../iscsi/pdu.ts';

export interface LoginOptions {
  host: string;
  port: number;
  /** Omit for a discovery session. */
  targetName?: string;
  initiatorName: string;
  isid?: Buffer;
  chap?: { user: string; secret: string };
  /** Credentials the target must prove (mutual CHAP). */
  mutualChap?: { user: string; secret: string };
  headerDigest?: boolean;
  dataDigest?: boolean;
  /** Offer InitialR2T=Yes: no unsolicited Data-Out, every byte past immediate data waits for an R2T (RFC 7143 13.10). */
  initialR2T?: boolean;
  /** false: offer ImmediateData=No, so write data never rides in the SCSI Command (RFC 7143 13.11). */
  immediateData?: boolean;
}

/** Why a login failed: the Login Response status class/detail, with the RFC 7143 11.13.5 meaning. */
export class LoginError extends Error {
  constructor(
    readonly statusClass: number,
    readonly statusDetail: number,
    message: string,
  ) {
    super(message);
  }
}

const STATUS_TEXT: Record<number, string> = {
  0x0101: 'target moved temporarily',
  0x0102: 'target moved permanently',
  0x0200: 'initiator error',
  0x0201: 'authentication failure',
  0x0202: 'authorization failure',
  0x0203: 'target not found',
  0x0204: 'target removed',
  0x0205: 'unsupported version',
  0x0206: 'too many connections',
  0x0207: 'missing parameter',
  0x0208: 'cannot include in session',
  0x0209: 'session type not supported',
  0x020a: 'session does not exist',
  0x020b: 'invalid during login',
  0x0300: 'target error',
  0x0301: 'service unavailable',
  0x0302: 'out of resources',
};

export interface LoginResult {
  params: SessionParams;
  tsih: number;
  /** StatSN of the final Login Response + 1. */
  expStatSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  cmdSN: number;
  targetKeys: Map<string, string>;
}

const MAX_LOGIN_ROUNDS = 16;

/** The initiator side of login (RFC 7143 6.3): security stage with CHAP when credentials are given, then operational. */
export async function login(conn: InitiatorConnection, opts: LoginOptions): Promise<LoginResult> {
  const isid = opts.isid ?? Buffer.concat([Buffer.from([0x80]), randomBytes(5)]);
  const discovery = opts.targetName === undefined;
  const cmdSN = 1;
  let expStatSN = 0;
  const itt = 1;
  const params: SessionParams = { ...DEFAULT_PARAMS };
  const targetKeys = new Map<string, string>();
  const responses: Pdu[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  conn.setHandler((pdu) => {
    responses.push(pdu);
    wake?.();
  });
  conn.onClose((why) => {
    failure = why;
    wake?.();
  });
  const exchange = async (csg: number, nsg: number, transit: boolean, keys: KeyValue[]) => {
    conn.send(
      encodeLoginRequest({
        transit,
        continue: false,
        csg,
        nsg,
        versionMax: 0,
        versionMin: 0,
        isid,
        tsih: 0,
        itt,
        cid: 0,
        cmdSN,
        expStatSN,
        data: encodeKeys(keys),
      }),
    );
    while (responses.length === 0) {
      if (failure) throw new Error(`login: ${failure.message}`);
      await new Promise<void>((r) => (wake = r));
    }
    const res = decodeLoginResponse(responses.shift()!);
    expStatSN = (res.statSN + 1) >>> 0;
    if (res.statusClass !== 0) {
      const code = (res.statusClass << 8) | res.statusDetail;
      throw new LoginError(res.statusClass, res.statusDetail, `login refused: ${STATUS_TEXT[code] ?? 'status'} (0x${code.toString(16).padStart(4, '0')})`);
    }
    const answers = new Map(parseKeys(res.data));
    for (const [k, v] of answers) targetKeys.set(k, v);
    return { res, answers };
  };

  const declared: KeyValue[] = [
    ['InitiatorName', opts.initiatorName],
    ['SessionType', discovery ? 'Discovery' : 'Normal'],
  ];
  if (!discovery) declared.push(['TargetName', opts.targetName!]);
  // ---- security stage ----
  const wantChap = opts.chap !== undefined;
  let { res, answers } = await exchange(Stage.Security, Stage.Operational, !wantChap, [...declared, ['AuthMethod', wantChap ? 'CHAP,None' : 'None']]);
  if (answers.get('AuthMethod') === 'CHAP') {
    if (!opts.chap) throw new Error('login: the target requires CHAP and no credentials were given');
    ({ res, answers } = await exchange(Stage.Security, Stage.Operational, false, [['CHAP_A', '7,8,6,5']]));
    const alg = Number(answers.get('CHAP_A'));
    const id = decodeIdentifier(answers.get('CHAP_I') ?? '');
    const challenge = decodeBinary(answers.get('CHAP_C') ?? '');
    if (![5, 6, 7, 8].includes(alg) || id === undefined || !challenge) throw new Error('login: malformed CHAP challenge from target');
    const keys: KeyValue[] = [
      ['CHAP_N', opts.chap.user],
      ['CHAP_R', encodeHex(chapResponse(alg, id, opts.chap.secret, challenge))],
    ];
    const myId = randomBytes(1)[0]!;
    const myChallenge = randomBytes(32);
    if (opts.mutualChap) keys.push(['CHAP_I', String(myId)], ['CHAP_C', encodeHex(myChallenge)]);
    ({ res, answers } = await exchange(Stage.Security, Stage.Operational, true, keys));
    if (opts.mutualChap) {
      const r = decodeBinary(answers.get('CHAP_R') ?? '');
      const want = chapResponse(alg, myId, opts.mutualChap.secret, myChallenge);
      if (answers.get('CHAP_N') !== opts.mutualChap.user || !r || !responsesEqual(r, want)) {
        conn.close();
        throw new Error('login: the target failed mutual CHAP authentication');
      }
    }
  }
  for (let i = 0; !res.transit; i++) {
    if (i >= MAX_LOGIN_ROUNDS) throw new Error('login: target never left the security stage');
    ({ res, answers } = await exchange(Stage.Security, Stage.Operational, true, []));
  }

  // ---- operational stage ----
  if (res.nsg !== Stage.FullFeature) {
    const offer: KeyValue[] = [
      ['HeaderDigest', opts.headerDigest ? 'CRC32C,None' : 'None'],
      ['DataDigest', opts.dataDigest ? 'CRC32C,None' : 'None'],
      ['MaxRecvDataSegmentLength', '262144'],
    ];
    if (!discovery) {
      offer.push(
        ['MaxConnections', '1'],
        ['InitialR2T', opts.initialR2T ? 'Yes' : 'No'],
        ['ImmediateData', opts.immediateData === false ? 'No' : 'Yes'],
        ['MaxBurstLength', '262144'],
        ['FirstBurstLength', '65536'],
        ['DefaultTime2Wait', '2'],
        ['DefaultTime2Retain', '0'],
        ['MaxOutstandingR2T', '1'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'Yes'],
        ['ErrorRecoveryLevel', '0'],
      );
    }
    ({ res, answers } = await exchange(Stage.Operational, Stage.FullFeature, true, offer));
    for (let i = 0; !res.transit; i++) {
      if (i >= MAX_LOGIN_ROUNDS) throw new Error('login: target never reached Full Feature Phase');
      ({ res, answers } = await exchange(Stage.Operational, Stage.FullFeature, true, []));
    }
    params.initialR2T = true;
    params.immediateData = true;
    applyAnswers(params, targetKeys, !discovery);
  }
  return { params, tsih: res.tsih, expStatSN, expCmdSN: res.expCmdSN, maxCmdSN: res.maxCmdSN, cmdSN: res.expCmdSN, targetKeys };
}

/** Turns the target's answers into the session's parameters (the result functions already ran on its side). */
function applyAnswers(p: SessionParams, k: Map<string, string>, normal: boolean): void {
  const num = (key: string, fallback: number) => (k.has(key) && /^\d+$/.test(k.get(key)!) ? Number(k.get(key)) : fallback);
  p.headerDigest = k.get('HeaderDigest') === 'CRC32C';
  p.dataDigest = k.get('DataDigest') === 'CRC32C';
  p.maxSendDataSegmentLength = num('MaxRecvDataSegmentLength', 8192);
  if (!normal) return;
  p.initialR2T = k.has('InitialR2T') ? k.get('InitialR2T') === 'Yes' : true;
  p.immediateData = k.has('ImmediateData') ? k.get('ImmediateData') === 'Yes' : true;
  p.maxBurstLength = num('MaxBurstLength', 262144);
  p.firstBurstLength = num('FirstBurstLength', 65536);
  p.maxOutstandingR2T = num('MaxOutstandingR2T', 1);
  p.errorRecoveryLevel = num('ErrorRecoveryLevel', 0);
}
