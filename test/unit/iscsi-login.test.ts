import { describe, expect, it } from 'vitest';
import { LoginMachine, type LoginPolicy } from '../../server/iscsi/login.ts';
import { chapResponse, decodeBinary } from '../../server/iscsi/chap.ts';
import { encodeKeys } from '../../server/iscsi/text-keys.ts';
import type { LoginRequestPdu } from '../../server/iscsi/pdu/login.ts';
import { negotiate, DEFAULT_PARAMS } from '../../server/iscsi/negotiation.ts';

const TARGET = 'iqn.2026-11.org.iscsi-lab:t';
const INITIATOR = 'iqn.2026-11.org.example:host';

function policy(extra: Partial<LoginPolicy> = {}): LoginPolicy {
  return { targetName: TARGET, portalGroupTag: 1, sessionExists: () => false, ...extra };
}

function req(csg: number, nsg: number, transit: boolean, keys: Record<string, string>): LoginRequestPdu {
  return {
    transit,
    continue: false,
    csg,
    nsg,
    versionMax: 0,
    versionMin: 0,
    isid: Buffer.from('400001370000', 'hex'),
    tsih: 0,
    itt: 1,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: encodeKeys(Object.entries(keys)),
  };
}

const answersOf = (step: { answers: readonly (readonly [string, string])[] }) => Object.fromEntries(step.answers);

describe('operational negotiation (RFC 7143 13)', () => {
  it('applies each result function', () => {
    const p = { ...DEFAULT_PARAMS };
    const r = negotiate(
      [
        ['HeaderDigest', 'CRC32C,None'],
        ['DataDigest', 'None'],
        ['InitialR2T', 'Yes'],
        ['ImmediateData', 'Yes'],
        ['MaxBurstLength', '262144'],
        ['FirstBurstLength', '999999'],
        ['DefaultTime2Wait', '0'],
        ['MaxOutstandingR2T', '1'],
        ['MaxRecvDataSegmentLength', '65536'],
        ['ErrorRecoveryLevel', '2'],
        ['X-com.example.Thing', '1'],
      ],
      p,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Object.fromEntries(r.answers)).toEqual({
      HeaderDigest: 'CRC32C',
      DataDigest: 'None',
      InitialR2T: 'Yes',
      ImmediateData: 'Yes',
      MaxBurstLength: '262144',
      FirstBurstLength: '999999',
      DefaultTime2Wait: '2',
      MaxOutstandingR2T: '1',
      ErrorRecoveryLevel: '0',
      'X-com.example.Thing': 'NotUnderstood',
    });
    expect(p.headerDigest).toBe(true);
    expect(p.maxSendDataSegmentLength).toBe(65536);
    // FirstBurstLength may never exceed MaxBurstLength.
    expect(p.firstBurstLength).toBe(262144);
  });

  it('answers Reject to values out of range or malformed', () => {
    const p = { ...DEFAULT_PARAMS };
    const r = negotiate(
      [
        ['MaxBurstLength', '100'],
        ['InitialR2T', 'Maybe'],
        ['HeaderDigest', 'MD5'],
      ],
      p,
    );
    expect(r.ok && Object.fromEntries(r.answers)).toEqual({ MaxBurstLength: 'Reject', InitialR2T: 'Reject', HeaderDigest: 'Reject' });
    expect(p.maxBurstLength).toBe(DEFAULT_PARAMS.maxBurstLength);
  });
});

describe('login without authentication', () => {
  it('goes security -> operational -> full feature', () => {
    const m = new LoginMachine(policy());
    const s1 = m.step(req(0, 1, true, { InitiatorName: INITIATOR, TargetName: TARGET, SessionType: 'Normal', AuthMethod: 'None' }));
    expect(s1.status).toBe(0);
    expect(answersOf(s1)).toMatchObject({ AuthMethod: 'None', TargetPortalGroupTag: '1' });
    expect(s1.transit).toBe(true);
    const s2 = m.step(req(1, 3, true, { HeaderDigest: 'None', MaxRecvDataSegmentLength: '262144' }));
    expect(s2.complete).toBe(true);
    expect(answersOf(s2).MaxRecvDataSegmentLength).toBe('262144');
  });

  it('refuses an unknown target, a missing initiator name and an initiator outside the ACL', () => {
    expect(new LoginMachine(policy()).step(req(0, 1, true, { InitiatorName: INITIATOR, TargetName: 'iqn.2026-11.x:nope' })).status).toBe(0x0203);
    expect(new LoginMachine(policy()).step(req(0, 1, true, { TargetName: TARGET })).status).toBe(0x0207);
    expect(
      new LoginMachine(policy({ acl: ['iqn.2026-11.org.example:other'] })).step(req(0, 1, true, { InitiatorName: INITIATOR, TargetName: TARGET })).status,
    ).toBe(0x0202);
  });

  it('lets a discovery session in without a target name', () => {
    const s = new LoginMachine(policy()).step(req(0, 3, true, { InitiatorName: INITIATOR, SessionType: 'Discovery', AuthMethod: 'None' }));
    expect(s.status).toBe(0);
    expect(s.complete).toBe(true);
  });
});

describe('CHAP (RFC 7143 12.1.3)', () => {
  const chap = { user: 'alice', secret: 'secret-of-16-chars' };
  const mutualChap = { user: 'target', secret: 'target-secret-16ch' };

  for (const [alg, encode] of [
    [5, 'hex'],
    [6, 'base64'],
    [7, 'hex'],
    [8, 'base64'],
  ] as const) {
    it(`authenticates with CHAP_A=${alg}, ${encode} response, mutual`, () => {
      const m = new LoginMachine(policy({ chap, mutualChap }));
      const s1 = m.step(req(0, 1, false, { InitiatorName: INITIATOR, TargetName: TARGET, AuthMethod: 'CHAP,None' }));
      expect(answersOf(s1).AuthMethod).toBe('CHAP');
      const s2 = m.step(req(0, 1, false, { CHAP_A: `${alg}` }));
      const a2 = answersOf(s2);
      expect(a2.CHAP_A).toBe(String(alg));
      const id = Number(a2.CHAP_I);
      const challenge = decodeBinary(a2.CHAP_C!)!;
      const r = chapResponse(alg, id, chap.secret, challenge);
      const myChallenge = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
      const s3 = m.step(
        req(0, 1, true, {
          CHAP_N: 'alice',
          CHAP_R: encode === 'hex' ? '0x' + r.toString('hex') : '0b' + r.toString('base64'),
          CHAP_I: '77',
          CHAP_C: '0b' + myChallenge.toString('base64'),
        }),
      );
      expect(s3.status).toBe(0);
      expect(s3.transit).toBe(true);
      const a3 = answersOf(s3);
      expect(a3.CHAP_N).toBe('target');
      expect(decodeBinary(a3.CHAP_R!)).toEqual(chapResponse(alg, 77, mutualChap.secret, myChallenge));
    });
  }

  it("takes the first CHAP_A of the initiator's list that it supports (RFC 7143 6.2.1), not its own favourite", () => {
    for (const [list, chosen] of [
      ['5,6,7,8', '5'],
      ['8,5', '8'],
      ['99,6,7', '6'],
      ['56,7', '7'],
    ] as const) {
      const m = new LoginMachine(policy({ chap }));
      m.step(req(0, 1, false, { InitiatorName: INITIATOR, TargetName: TARGET, AuthMethod: 'CHAP' }));
      expect(answersOf(m.step(req(0, 1, false, { CHAP_A: list }))).CHAP_A, list).toBe(chosen);
    }
  });

  it('refuses a wrong secret with an authentication failure', () => {
    const m = new LoginMachine(policy({ chap }));
    m.step(req(0, 1, false, { InitiatorName: INITIATOR, TargetName: TARGET, AuthMethod: 'CHAP' }));
    const a = answersOf(m.step(req(0, 1, false, { CHAP_A: '5' })));
    const r = chapResponse(5, Number(a.CHAP_I), 'wrong-secret-xxxx', decodeBinary(a.CHAP_C!)!);
    const s = m.step(req(0, 1, true, { CHAP_N: 'alice', CHAP_R: '0x' + r.toString('hex') }));
    expect(s.status).toBe(0x0201);
    expect(s.authFailure).toBe(true);
  });

  it('refuses an initiator that offers only None when CHAP is required, and unknown algorithms', () => {
    expect(new LoginMachine(policy({ chap })).step(req(0, 1, true, { InitiatorName: INITIATOR, TargetName: TARGET, AuthMethod: 'None' })).status).toBe(0x0201);
    const m = new LoginMachine(policy({ chap }));
    m.step(req(0, 1, false, { InitiatorName: INITIATOR, TargetName: TARGET, AuthMethod: 'CHAP' }));
    const s = m.step(req(0, 1, false, { CHAP_A: '99,100' }));
    expect(s.status).toBe(0x0201);
    expect(answersOf(s).CHAP_A).toBe('Reject');
  });

  it('refuses a reflected challenge', () => {
    const m = new LoginMachine(policy({ chap, mutualChap }));
    m.step(req(0, 1, false, { InitiatorName: INITIATOR, TargetName: TARGET, AuthMethod: 'CHAP' }));
    const a = answersOf(m.step(req(0, 1, false, { CHAP_A: '7' })));
    const r = chapResponse(7, Number(a.CHAP_I), chap.secret, decodeBinary(a.CHAP_C!)!);
    const s = m.step(req(0, 1, true, { CHAP_N: 'alice', CHAP_R: '0x' + r.toString('hex'), CHAP_I: '1', CHAP_C: a.CHAP_C! }));
    expect(s.status).toBe(0x0201);
  });
});
