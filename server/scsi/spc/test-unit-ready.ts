/**
 * TEST UNIT READY (SPC-4 6.47): GOOD when the medium is accessible. The medium check (NOT READY, MEDIUM NOT
 * PRESENT) is done by the dispatcher for every media-access command, this one included.
 */
import { good } from '../context.ts';
import type { ScsiResponse } from '../types.ts';

export function testUnitReady(): ScsiResponse {
  return good();
}
