/** "Login and CHAP": the login phase's two stages, seen key by key. */
import type { Lesson } from './types.ts';

export const LOGIN_CHAP: Lesson = {
  id: 'login-chap',
  title: 'Login and CHAP',
  summary: 'Watch an initiator log in: security negotiation with a CHAP challenge and response, then operational keys, then Full Feature Phase.',
  topics: ['iSCSI initiator', 'iSCSI target'],
  steps: [
    {
      instruction:
        'Before any SCSI command, an iSCSI connection logs in (RFC 7143 6.3): Security Negotiation (who are you? CHAP), then Operational Negotiation (how big may PDUs be?), then Full Feature Phase. The CHAP steps need a target started with `--chap USER:SECRET`. Press Next.',
      check: { kind: 'read' },
      hints: ['`iscsi-lab serve --chap user:secret` makes every initiator prove it knows the secret.'],
    },
    {
      instruction: 'Log in with an outside initiator, e.g. `iscsi-inq iscsi://USER%SECRET@HOST:PORT/IQN/0` from a shell (the portal is shown in the header).',
      explain: 'Each Login Request / Login Response pair is one round of key=value negotiation.',
      check: { kind: 'pdu', opcodeName: 'Login Response' },
      hints: ['libiscsi writes the CHAP user and secret into the URL as user%secret@.', '`iscsi-ls -s iscsi://HOST:PORT` logs in too (a discovery session).'],
    },
    {
      instruction: 'Select the Login Request that offers AuthMethod (its first request).',
      explain: 'The initiator lists the methods it accepts; the target picks one.',
      check: { kind: 'select', opcodeName: 'Login Request', keys: ['AuthMethod'] },
      hints: ['Login PDUs show their keys in the inspector under DataSegment.'],
    },
    {
      instruction: "Select the Login Response that carries the target's challenge, CHAP_C.",
      explain: 'CHAP_I is an identifier, CHAP_C a random challenge. The secret itself never crosses the wire.',
      check: { kind: 'select', opcodeName: 'Login Response', keys: ['CHAP_C'] },
      hints: ['It is the second Login Response of that connection.'],
    },
    {
      instruction: "Select the Login Request with the initiator's answer, CHAP_R.",
      explain: 'CHAP_R = hash(CHAP_I + secret + CHAP_C) with the algorithm of CHAP_A (5 MD5 ... 8 SHA3-256).',
      check: { kind: 'select', opcodeName: 'Login Request', keys: ['CHAP_R'] },
      hints: ['CHAP_N is the user name; CHAP_R the response.'],
    },
    {
      instruction: 'Select the Login Request carrying MaxRecvDataSegmentLength (operational negotiation), then click its CSG field in the inspector.',
      explain: 'CSG 1 = Operational Negotiation. Keys like InitialR2T, ImmediateData and FirstBurstLength decide how a write will travel.',
      check: { kind: 'field', field: 'CSG', opcodeName: 'Login Request' },
      hints: ['CSG and NSG are two-bit fields in byte 1 of the BHS.'],
    },
    {
      instruction: 'Select the last Login Response and click its NSG: 3 means Full Feature Phase.',
      check: { kind: 'field', field: 'NSG', opcodeName: 'Login Response' },
      hints: ['The T (transit) bit set with NSG 3 ends the login.'],
    },
  ],
};
