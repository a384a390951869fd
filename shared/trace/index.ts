export * from './schema.ts';
export * from './describe.ts';
