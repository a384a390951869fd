/**
 * The iSCSI opcodes (RFC 7143 11.2.1.2), named once for the target's codecs, the capture reader, the proxy and the
 * UI: code compares against these names, never against the numbers.
 */
export const IscsiOpcode = {
  // initiator -> target
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  ScsiDataOut: 0x05,
  LogoutRequest: 0x06,
  Snack: 0x10,
  // target -> initiator
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  ScsiDataIn: 0x25,
  LogoutResponse: 0x26,
  R2T: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;
export type IscsiOpcode = (typeof IscsiOpcode)[keyof typeof IscsiOpcode];

/** Byte 0 of the BHS: the immediate bit (0x40) and the opcode in the low six bits. */
export const ISCSI_OPCODE_MASK = 0x3f;
/** Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f. */
const FIRST_TARGET_OPCODE = 0x20;
/** The one vendor-specific initiator opcode Wireshark names. */
const VENDOR_SPECIFIC_1C = 0x1c;

/** RFC 7143 11.2.1.2 opcode names, as Wireshark shows them. */
export const ISCSI_OPCODE_NAMES: Readonly<Record<number, string>> = {
  [IscsiOpcode.NopOut]: 'NOP-Out',
  [IscsiOpcode.ScsiCommand]: 'SCSI Command',
  [IscsiOpcode.TaskManagementRequest]: 'SCSI Task Management Function Request',
  [IscsiOpcode.LoginRequest]: 'Login Request',
  [IscsiOpcode.TextRequest]: 'Text Request',
  [IscsiOpcode.ScsiDataOut]: 'SCSI Data-Out',
  [IscsiOpcode.LogoutRequest]: 'Logout Request',
  [IscsiOpcode.Snack]: 'SNACK Request',
  [VENDOR_SPECIFIC_1C]: 'Vendor Specific 0x1c',
  [IscsiOpcode.NopIn]: 'NOP-In',
  [IscsiOpcode.ScsiResponse]: 'SCSI Response',
  [IscsiOpcode.TaskManagementResponse]: 'SCSI Task Management Function Response',
  [IscsiOpcode.LoginResponse]: 'Login Response',
  [IscsiOpcode.TextResponse]: 'Text Response',
  [IscsiOpcode.ScsiDataIn]: 'SCSI Data-In',
  [IscsiOpcode.LogoutResponse]: 'Logout Response',
  [IscsiOpcode.R2T]: 'R2T',
  [IscsiOpcode.AsyncMessage]: 'Asynchronous Message',
  [IscsiOpcode.Reject]: 'Reject',
};

export const iscsiOpcodeOf = (bhs: Uint8Array): number => (bhs[0] ?? 0) & ISCSI_OPCODE_MASK;
export const iscsiOpcodeName = (opcode: number): string => ISCSI_OPCODE_NAMES[opcode] ?? `Opcode 0x${opcode.toString(16).padStart(2, '0')}`;
/** Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f (RFC 7143 11.2.1.2). */
export const isInitiatorOpcode = (opcode: number): boolean => opcode < FIRST_TARGET_OPCODE;
/** NOP-Out and NOP-In: the keep-alives a timeline may hide. */
export const isNopOpcode = (opcode: number): boolean => opcode === IscsiOpcode.NopOut || opcode === IscsiOpcode.NopIn;
