export * from './bytes.ts';
export * from './fields.ts';
export * from './scsi-opcodes.ts';
export * from './cdb.ts';
export * from './sense.ts';
export * from './text-keys.ts';
export * from './iscsi.ts';
