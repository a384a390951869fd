import { Bhs, IMMEDIATE_BIT, Opcode } from '../constants.ts';
import { newPdu, type Pdu } from '../pdu.ts';

/** Login stages (RFC 7143 11.12.3): CSG and NSG values. */
export const enum Stage {
  Security = 0,
  Operational = 1,
  FullFeature = 3,
}

/** Login Request (RFC 7143 11.12). */
export interface LoginRequestPdu {
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  /** 6 bytes. */
  isid: Buffer;
  tsih: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
  data: Buffer;
}

/** Login Response (RFC 7143 11.13). */
export interface LoginResponsePdu {
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  isid: Buffer;
  tsih: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  statusClass: number;
  statusDetail: number;
  data: Buffer;
}

const TRANSIT_BIT = 0x80;
const CONTINUE_BIT = 0x40;
const ISID = 8;
const ISID_LENGTH = 6;
const TSIH = 14;
const STATUS_CLASS = 36;
const STATUS_DETAIL = 37;

const stageFlags = (transit: boolean, cont: boolean, csg: number, nsg: number): number =>
  (transit ? TRANSIT_BIT : 0) | (cont ? CONTINUE_BIT : 0) | ((csg & 3) << 2) | (nsg & 3);

export function decodeLoginRequest(pdu: Pdu): LoginRequestPdu {
  const b = pdu.bhs;
  const f = b[Bhs.Flags]!;
  return {
    transit: (f & TRANSIT_BIT) !== 0,
    continue: (f & CONTINUE_BIT) !== 0,
    csg: (f >> 2) & 3,
    nsg: f & 3,
    versionMax: b[2]!,
    versionMin: b[3]!,
    isid: b.subarray(ISID, ISID + ISID_LENGTH),
    tsih: b.readUInt16BE(TSIH),
    itt: b.readUInt32BE(Bhs.Itt),
    cid: b.readUInt16BE(Bhs.Word20),
    cmdSN: b.readUInt32BE(Bhs.Word24),
    expStatSN: b.readUInt32BE(Bhs.Word28),
    data: pdu.data,
  };
}

export function encodeLoginRequest(r: LoginRequestPdu): Pdu {
  // Always immediate (0x43): Wireshark ignores a Login Request without the I bit.
  const pdu = newPdu(Opcode.LoginRequest | IMMEDIATE_BIT, r.data);
  const b = pdu.bhs;
  b[Bhs.Flags] = stageFlags(r.transit, r.continue, r.csg, r.nsg);
  b[2] = r.versionMax;
  b[3] = r.versionMin;
  r.isid.copy(b, ISID, 0, ISID_LENGTH);
  b.writeUInt16BE(r.tsih, TSIH);
  b.writeUInt32BE(r.itt, Bhs.Itt);
  b.writeUInt16BE(r.cid, Bhs.Word20);
  b.writeUInt32BE(r.cmdSN, Bhs.Word24);
  b.writeUInt32BE(r.expStatSN, Bhs.Word28);
  return pdu;
}

export function encodeLoginResponse(r: LoginResponsePdu): Pdu {
  const pdu = newPdu(Opcode.LoginResponse, r.data);
  const b = pdu.bhs;
  b[Bhs.Flags] = stageFlags(r.transit, r.continue, r.csg, r.nsg);
  b[2] = r.versionMax;
  b[3] = r.versionActive;
  r.isid.copy(b, ISID, 0, ISID_LENGTH);
  b.writeUInt16BE(r.tsih, TSIH);
  b.writeUInt32BE(r.itt, Bhs.Itt);
  b.writeUInt32BE(r.statSN, Bhs.Word24);
  b.writeUInt32BE(r.expCmdSN, Bhs.Word28);
  b.writeUInt32BE(r.maxCmdSN, Bhs.Word32);
  b[STATUS_CLASS] = r.statusClass;
  b[STATUS_DETAIL] = r.statusDetail;
  return pdu;
}

export function decodeLoginResponse(pdu: Pdu): LoginResponsePdu {
  const b = pdu.bhs;
  const f = b[Bhs.Flags]!;
  return {
    transit: (f & TRANSIT_BIT) !== 0,
    continue: (f & CONTINUE_BIT) !== 0,
    csg: (f >> 2) & 3,
    nsg: f & 3,
    versionMax: b[2]!,
    versionActive: b[3]!,
    isid: b.subarray(ISID, ISID + ISID_LENGTH),
    tsih: b.readUInt16BE(TSIH),
    itt: b.readUInt32BE(Bhs.Itt),
    statSN: b.readUInt32BE(Bhs.Word24),
    expCmdSN: b.readUInt32BE(Bhs.Word28),
    maxCmdSN: b.readUInt32BE(Bhs.Word32),
    statusClass: b[STATUS_CLASS]!,
    statusDetail: b[STATUS_DETAIL]!,
    data: pdu.data,
  };
}

/** Login status (RFC 7143 11.13.5): class << 8 | detail. */
export const LoginStatus = {
  Success: 0x0000,
  TargetMovedTemporarily: 0x0101,
  InitiatorError: 0x0200,
  AuthenticationFailure: 0x0201,
  AuthorizationFailure: 0x0202,
  NotFound: 0x0203,
  TargetRemoved: 0x0204,
  UnsupportedVersion: 0x0205,
  TooManyConnections: 0x0206,
  MissingParameter: 0x0207,
  CantIncludeInSession: 0x0208,
  SessionTypeNotSupported: 0x0209,
  SessionDoesNotExist: 0x020a,
  InvalidDuringLogin: 0x020b,
  TargetError: 0x0300,
  ServiceUnavailable: 0x0301,
  OutOfResources: 0x0302,
} as const;
