/**
 * Key lists of the API contract's types (shared/api), checked by the compiler both ways: a key the type has and
 * the list lacks, or one the list has and the type lacks, fails `tsc`. `true` marks a key every answer carries,
 * `false` an optional one. Tests then hold real answers against these lists.
 */
export type ContractKeys<T> = { readonly [K in keyof Required<T>]: undefined extends T[K] ? false : true };

export const contractKeys = <T>(keys: ContractKeys<T>): ContractKeys<T> => keys;

/** What is wrong with `value` as a T: required keys missing, keys the contract does not name. Empty: it fits. */
export function contractMismatch<T>(keys: ContractKeys<T>, value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`not an object: ${JSON.stringify(value)?.slice(0, 80)}`];
  const known = keys as Readonly<Record<string, boolean>>;
  const problems: string[] = [];
  for (const [k, required] of Object.entries(known)) if (required && !(k in value)) problems.push(`missing ${k}`);
  for (const k of Object.keys(value)) if (!(k in known)) problems.push(`not in the contract: ${k}`);
  return problems;
}
