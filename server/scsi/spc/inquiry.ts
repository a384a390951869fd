/**
 * INQUIRY (SPC-4 6.6): standard data and the vital product data pages a block device reports
 * (SPC-4 7.8, SBC-3 6.5): 00 supported pages, 80 unit serial number, 83 device identification,
 * 8F third-party copy, B0 block limits, B1 block device characteristics, B2 logical block provisioning.
 */
import { be16, put16, put32, put64 } from '../cdb.ts';
import type { CommandContext, TargetInfo } from '../context.ts';
import { withAllocation } from '../context.ts';
import { naaDesignator, unitSerialNumber } from '../identity.ts';
import type { LogicalUnit } from '../logical-unit.ts';
import { invalidField } from '../sense.ts';
import { blockLimits } from '../sbc/limits.ts';
import { thirdPartyCopyPage } from './third-party-copy-vpd.ts';
import type { ScsiResponse } from '../types.ts';

const EVPD = 0x01;
const CMDDT = 0x02; // obsolete (SPC-2); must be zero
const DEVICE_TYPE_DISK = 0x00;
const PQ_NOT_CONNECTABLE = 0x60; // peripheral qualifier 011b: no logical unit at this LUN (SPC-4 6.6.2)
const DEVICE_TYPE_UNKNOWN = 0x1f;
const STANDARD_LENGTH = 74; // through the eight version descriptors
const VERSION_SPC4 = 0x06;
const RESPONSE_DATA_FORMAT = 0x02;
const HISUP = 0x10;
const CMDQUE = 0x02;
const TPC = 0x08; // 3PC: EXTENDED COPY is implemented (spc/extended-copy.ts)
const TPGS_IMPLICIT = 0x10; // byte 5 TPGS 01b: implicit ALUA, REPORT TARGET PORT GROUPS (spc/report-target-port-groups.ts)
const MULTIP = 0x10; // byte 6: more than one target port reaches the LU
const RMB = 0x80;
/** Version descriptors (SPC-4 table 147): SAM-5, SPC-4, SBC-3, iSCSI (RFC 7143 has no code; 0x0960 is iSCSI). */
const VERSION_DESCRIPTORS = [0x00a0, 0x0460, 0x04c0, 0x0960];

const VPD_PAGES = [0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2] as const;

export function inquiry(ctx: CommandContext): ScsiResponse {
  const { cdb } = ctx;
  const allocation = be16(cdb, 3);
  if (cdb[1]! & CMDDT) throw invalidField(1, 1);
  if (!(cdb[1]! & EVPD)) {
    if (cdb[2] !== 0) throw invalidField(2);
    return withAllocation(standardInquiry(ctx.target, ctx.lu.removable, DEVICE_TYPE_DISK), allocation);
  }
  return withAllocation(vpdPage(ctx, cdb[2]!), allocation);
}

/** INQUIRY addressed to a LUN that does not exist: peripheral qualifier 3, device type 1Fh (SPC-4 6.6.2). */
export function inquiryNoLun(cdb: Uint8Array, target: TargetInfo): ScsiResponse {
  if (cdb[1]! & (EVPD | CMDDT)) throw invalidField(1);
  if (cdb[2] !== 0) throw invalidField(2);
  return withAllocation(standardInquiry(target, false, PQ_NOT_CONNECTABLE | DEVICE_TYPE_UNKNOWN), be16(cdb, 3));
}

function standardInquiry(target: TargetInfo, removable: boolean, peripheral: number): Uint8Array {
  const d = new Uint8Array(STANDARD_LENGTH);
  d[0] = peripheral;
  d[1] = removable ? RMB : 0;
  d[2] = VERSION_SPC4;
  d[3] = HISUP | RESPONSE_DATA_FORMAT;
  d[4] = STANDARD_LENGTH - 5;
  if (peripheral === DEVICE_TYPE_DISK) {
    d[5] = TPC | TPGS_IMPLICIT;
    if (target.targetPorts.length > 1) d[6] = MULTIP;
  }
  d[7] = CMDQUE;
  ascii(d, 8, 8, target.vendor);
  ascii(d, 16, 16, target.product);
  ascii(d, 32, 4, target.revision);
  VERSION_DESCRIPTORS.forEach((v, i) => put16(d, 58 + 2 * i, v));
  return d;
}

function vpdPage(ctx: CommandContext, page: number): Uint8Array {
  const { lu, target } = ctx;
  switch (page) {
    case 0x00:
      return vpd(0x00, Uint8Array.from(VPD_PAGES));
    case 0x80: {
      const serial = new Uint8Array(16);
      ascii(serial, 0, 16, unitSerialNumber(target.targetName, lu.lun));
      return vpd(0x80, serial);
    }
    case 0x83:
      return vpd(0x83, deviceIdentification(target, lu, ctx.cmd.nexus.relativeTargetPort));
    case 0x8f:
      return vpd(0x8f, thirdPartyCopyPage(lu.store.blockSize));
    case 0xb0:
      return vpd(0xb0, blockLimitsPage(lu));
    case 0xb1:
      return vpd(0xb1, blockDeviceCharacteristics(lu));
    case 0xb2:
      return vpd(0xb2, logicalBlockProvisioning(lu));
    default:
      throw invalidField(2);
  }
}

/** VPD page header (SPC-4 7.8.1): device type, page code, 16-bit page length. */
function vpd(page: number, body: Uint8Array): Uint8Array {
  const d = new Uint8Array(4 + body.length);
  d[0] = DEVICE_TYPE_DISK;
  d[1] = page;
  put16(d, 2, body.length);
  d.set(body, 4);
  return d;
}

// Designation descriptor fields, SPC-4 7.8.6.1
const CODE_SET_BINARY = 1;
const ASSOC_LU = 0x00;
const ASSOC_TARGET_PORT = 0x10;
const TYPE_NAA = 3;
const TYPE_RELATIVE_TARGET_PORT = 4;
const TYPE_TARGET_PORT_GROUP = 5;

function deviceIdentification(target: TargetInfo, lu: LogicalUnit, relativePort: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const add = (codeSet: number, flags: number, body: Uint8Array, protocol = 0): void => {
    const d = new Uint8Array(4 + body.length);
    d[0] = (protocol << 4) | codeSet;
    d[1] = flags;
    d[3] = body.length;
    d.set(body, 4);
    parts.push(d);
  };
  add(CODE_SET_BINARY, ASSOC_LU | TYPE_NAA, naaDesignator(target.targetName, lu.lun));
  const port = new Uint8Array(4);
  put16(port, 2, relativePort);
  add(CODE_SET_BINARY, ASSOC_TARGET_PORT | TYPE_RELATIVE_TARGET_PORT, port);
  // The port's target port group (SPC-4 7.8.6.6.7): one group per port, numbered as the port (ALUA, see
  // spc/report-target-port-groups.ts).
  const group = new Uint8Array(4);
  put16(group, 2, relativePort);
  add(CODE_SET_BINARY, ASSOC_TARGET_PORT | TYPE_TARGET_PORT_GROUP, group);
  // The NAA designator names the LU; no T10 vendor ID or SCSI name string designators: the unit serial number is on
  // page 80 and the initiator knows the iSCSI names from login. So the whole page (40 bytes) fits the 64-byte
  // allocation length qemu asks with, and no answer is ever cut inside a descriptor (which Wireshark's dissector
  // reports as a malformed packet).
  return Buffer.concat(parts);
}

/** SBC-3 6.5.3, page length 3Ch, with SBC-4 6.6.4's atomic write fields (bytes 44-63). */
function blockLimitsPage(lu: LogicalUnit): Uint8Array {
  const limits = blockLimits(lu);
  const d = new Uint8Array(0x3c);
  // offsets below are from the start of the page; the body starts at page byte 4
  const at = (pageOffset: number): number => pageOffset - 4;
  d[at(5)] = limits.maxCompareAndWrite;
  put16(d, at(6), limits.optimalGranularity);
  put32(d, at(8), limits.maxTransfer);
  put32(d, at(12), limits.optimalTransfer);
  put32(d, at(16), limits.maxPrefetch);
  put32(d, at(20), limits.maxUnmapBlocks);
  put32(d, at(24), limits.maxUnmapDescriptors);
  put32(d, at(28), limits.optimalUnmapGranularity);
  put64(d, at(36), limits.maxWriteSame);
  put32(d, at(44), limits.maxAtomicTransfer);
  put32(d, at(48), limits.atomicAlignment);
  put32(d, at(52), limits.atomicGranularity);
  put32(d, at(56), limits.maxAtomicTransferWithBoundary);
  put32(d, at(60), limits.maxAtomicBoundary);
  return d;
}

// SBC-4 6.6.2 byte 7: WABEREQ (bits 7-6) / WACEREQ (bits 5-4) = 01b, reads after a BLOCK / CRYPTO ERASE sanitize
// succeed (they return zeros). Those erases exist on thin LUNs only (sbc/sanitize.ts); elsewhere both are 00b.
const WABEREQ_READS_GOOD = 0x40;
const WACEREQ_READS_GOOD = 0x10;

/** SBC-3 6.5.2: a non-rotating medium (MEDIUM ROTATION RATE 1), page length 3Ch. */
function blockDeviceCharacteristics(lu: LogicalUnit): Uint8Array {
  const d = new Uint8Array(0x3c);
  put16(d, 0, 0x0001);
  if (lu.thin) d[3] = WABEREQ_READS_GOOD | WACEREQ_READS_GOOD;
  return d;
}

const LBPU = 0x80;
const LBPWS = 0x40;
const LBPWS10 = 0x20;
const LBPRZ = 0x04;
const PROVISIONING_THIN = 0x02;

/** SBC-3 6.5.4: UNMAP and WRITE SAME with UNMAP on thin LUNs; unmapped blocks read as zeros (LBPRZ). */
function logicalBlockProvisioning(lu: LogicalUnit): Uint8Array {
  const d = new Uint8Array(4);
  if (lu.thin) {
    d[1] = LBPU | LBPWS | LBPWS10 | LBPRZ;
    d[2] = PROVISIONING_THIN;
  }
  return d;
}

function ascii(d: Uint8Array, offset: number, length: number, text: string): void {
  d.fill(0x20, offset, offset + length);
  for (let i = 0; i < Math.min(length, text.length); i++) d[offset + i] = text.charCodeAt(i) & 0x7f;
}
