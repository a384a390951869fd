/**
 * The reservation-specific outcomes: sense reasons sense.ts's shared table does not carry, the unit attention codes
 * reservations establish (SPC-4 Annex D, ASC 2Ah), and the two non-CHECK CONDITION responses.
 */
import { SenseKey, type SenseReason } from '../sense.ts';
import { ScsiStatus, type ScsiResponse } from '../types.ts';

/** SPC-4 6.16.4 (RELEASE with a TYPE or SCOPE that differs from the reservation held). */
export const InvalidReleaseOfPersistentReservation: SenseReason = {
  key: SenseKey.IllegalRequest,
  asc: 0x26,
  ascq: 0x04,
  name: 'INVALID RELEASE OF PERSISTENT RESERVATION',
};

/** Unit attention ASC/ASCQ pairs reservations establish for other I_T nexuses (SPC-4 5.12.11). */
export const UnitAttention = {
  ReservationsPreempted: { asc: 0x2a, ascq: 0x03 },
  ReservationsReleased: { asc: 0x2a, ascq: 0x04 },
  RegistrationsPreempted: { asc: 0x2a, ascq: 0x05 },
} as const;

export type UnitAttentionCode = (typeof UnitAttention)[keyof typeof UnitAttention];

export const good = (dataIn?: Uint8Array): ScsiResponse => (dataIn ? { status: ScsiStatus.Good, dataIn } : { status: ScsiStatus.Good });

export const conflict = (): ScsiResponse => ({ status: ScsiStatus.ReservationConflict });
