/**
 * Stable identifiers derived from the target name and LUN: the unit serial number (VPD 80) and the NAA
 * designator (VPD 83). Derived, not random, so a LUN keeps its identity across restarts (multipath relies on it).
 */
import { createHash } from 'node:crypto';

function digest(targetName: string, lun: number): Buffer {
  return createHash('sha256').update(`${targetName}\0${lun}`).digest();
}

/** 16 upper-case hex digits. */
export function unitSerialNumber(targetName: string, lun: number): string {
  return digest(targetName, lun).subarray(0, 8).toString('hex').toUpperCase();
}

/**
 * NAA IEEE Registered Extended designator (SPC-4 7.8.6.6.5, NAA 6): 16 bytes. The 24-bit company ID field uses a
 * locally-assigned value (no IEEE OUI of our own); the rest comes from the hash.
 */
export function naaDesignator(targetName: string, lun: number): Uint8Array {
  const h = digest(targetName, lun);
  const out = new Uint8Array(16);
  const COMPANY_ID = 0x000000; // "not registered": identification is unique through the hash alone
  out[0] = 0x60 | ((COMPANY_ID >> 20) & 0x0f);
  out[1] = (COMPANY_ID >> 12) & 0xff;
  out[2] = (COMPANY_ID >> 4) & 0xff;
  out[3] = ((COMPANY_ID & 0x0f) << 4) | (h[0]! & 0x0f);
  out.set(h.subarray(1, 13), 4);
  return out;
}
