/**
 * The whole target configuration as one JSON document, to save and restore it as targetcli's saveconfig and SPDK's
 * JSON config do: `GET /api/config` writes it, `iscsi-lab target|serve --config FILE` starts from it.
 *
 *   { "version": 1, "portals": ["127.0.0.1:3260"], "allowTargetReset": false,
 *     "limits": { "maxSessions": 64 }, "cache": { "sizeBytes": 16777216, "mode": "write-back", "policy": "2q",
 *                                                  "readahead": "on,262144", "flushIntervalMs": 1000 },
 *     "targets": [ { "iqn": "iqn.2026-11.org.iscsi-lab:lab", "acl": [], "chap": { "user": "u", "secret": "s" },
 *                    "luns": [ { "path": "lab-data/lun0.img", "sizeBytes": 67108864, "thin": false } ] } ] }
 *
 * A file is turned into the flags it stands for and parsed by parseTargetArgs, so it is checked exactly as the
 * command line is; unknown keys are errors that name their place in the file.
 */
import { readFile } from 'node:fs/promises';
import type { TargetLimits } from '../iscsi/target.ts';
import type { CacheConfig } from '../store/cache/config.ts';
import type { LunSpec, TargetConfig, TargetSpec } from './target-config.ts';
import { parseTargetArgs } from './target-flags.ts';
import { UsageError } from './usage-error.ts';

export const CONFIG_VERSION = 1;

type Json = Record<string, unknown>;

/** The document for `config`; CHAP secrets only with `secrets` (they are what a restore needs, and nothing else does). */
export function configDocument(config: TargetConfig, opts: { secrets: boolean }): Json {
  const target = (t: TargetSpec): Json => ({
    iqn: t.iqn,
    acl: [...t.acl],
    ...(t.chap ? { chap: credentials(t.chap, opts.secrets) } : {}),
    ...(t.mutualChap ? { mutualChap: credentials(t.mutualChap, opts.secrets) } : {}),
    luns: t.luns.map((l) => ({
      path: l.path,
      sizeBytes: l.sizeBytes,
      thin: l.thin,
      removable: l.removable,
      readOnly: l.readOnly,
      ...(l.physicalBlockSize ? { physicalBlockSize: l.physicalBlockSize } : {}),
    })),
  });
  return {
    version: CONFIG_VERSION,
    portals: config.portals.map((p) => (p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`)),
    allowTargetReset: config.allowTargetReset ?? false,
    limits: { ...config.limits },
    ...(config.cache ? { cache: cacheDocument(config.cache) } : {}),
    targets: [config, ...(config.moreTargets ?? [])].map(target),
  };
}

function credentials(c: { user: string; secret: string }, secrets: boolean): Json {
  return secrets ? { user: c.user, secret: c.secret } : { user: c.user };
}

function cacheDocument(c: CacheConfig): Json {
  return {
    sizeBytes: c.sizeBytes,
    mode: c.mode,
    policy: c.policy,
    readahead: `${c.readahead.enabled ? 'on' : 'off'},${c.readahead.windowBytes}`,
    ...(c.flushIntervalMs !== undefined ? { flushIntervalMs: c.flushIntervalMs } : {}),
  };
}

/** Reads FILE and parses it into a TargetConfig (UsageError, naming the file, for anything wrong in it). */
export async function loadConfigFile(path: string): Promise<TargetConfig> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--config ${path}: ${(err as Error).message}`);
  }
  try {
    return parseTargetArgs(documentArgs(doc));
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`--config ${path}: ${err.message}`);
    throw err;
  }
}

/** One target as the document writes it (`{iqn, luns, chap?, mutualChap?, acl?}`), checked as its flags would be. */
export function parseTargetDocument(raw: unknown): TargetSpec {
  const c = parseTargetArgs(documentArgs({ version: CONFIG_VERSION, targets: [raw] }));
  return { iqn: c.iqn, luns: c.luns, chap: c.chap, mutualChap: c.mutualChap, acl: c.acl };
}

/** The command-line flags a config document stands for. */
export function documentArgs(doc: unknown): string[] {
  const d = object(doc, 'the document');
  only(d, ['version', 'portals', 'allowTargetReset', 'limits', 'cache', 'targets'], 'the document');
  if (d.version !== CONFIG_VERSION) throw new UsageError(`version must be ${CONFIG_VERSION}, not ${JSON.stringify(d.version)}`);
  const args: string[] = [];
  for (const p of array(d.portals ?? [], 'portals')) args.push('--portal', text(p, 'portals[]'));
  if (d.allowTargetReset !== undefined && typeof d.allowTargetReset !== 'boolean') throw new UsageError('allowTargetReset must be true or false');
  if (d.allowTargetReset === true) args.push('--allow-target-reset');
  const limitFlags: Record<keyof TargetLimits, string> = {
    maxSessions: '--max-sessions',
    maxConnections: '--max-connections',
    maxCommands: '--max-commands',
    maxDataInFlight: '--max-data-in-flight',
  };
  const limits = object(d.limits ?? {}, 'limits');
  only(limits, Object.keys(limitFlags), 'limits');
  for (const [k, flag] of Object.entries(limitFlags)) if (limits[k] !== undefined) args.push(flag, String(integer(limits[k], `limits.${k}`)));
  if (d.cache !== undefined) {
    const c = object(d.cache, 'cache');
    only(c, ['sizeBytes', 'mode', 'policy', 'readahead', 'flushIntervalMs'], 'cache');
    if (c.sizeBytes !== undefined) args.push('--cache', String(integer(c.sizeBytes, 'cache.sizeBytes')));
    if (c.mode !== undefined) args.push('--cache-mode', text(c.mode, 'cache.mode'));
    if (c.policy !== undefined) args.push('--cache-policy', text(c.policy, 'cache.policy'));
    if (c.readahead !== undefined) args.push('--readahead', text(c.readahead, 'cache.readahead'));
    if (c.flushIntervalMs !== undefined) args.push('--cache-flush-interval', String(integer(c.flushIntervalMs, 'cache.flushIntervalMs')));
  }
  const targets = array(d.targets, 'targets');
  if (targets.length === 0) throw new UsageError('targets: at least one target');
  targets.forEach((raw, i) => args.push(...targetArgs(raw, `targets[${i}]`)));
  return args;
}

function targetArgs(raw: unknown, where: string): string[] {
  const t = object(raw, where);
  only(t, ['iqn', 'acl', 'chap', 'mutualChap', 'luns'], where);
  const args = ['--iqn', text(t.iqn, `${where}.iqn`)];
  for (const a of array(t.acl ?? [], `${where}.acl`)) args.push('--acl', text(a, `${where}.acl[]`));
  for (const key of ['chap', 'mutualChap'] as const) {
    if (t[key] === undefined) continue;
    const c = object(t[key], `${where}.${key}`);
    only(c, ['user', 'secret'], `${where}.${key}`);
    if (c.secret === undefined) throw new UsageError(`${where}.${key}: no secret (GET /api/config?secrets=true includes them)`);
    args.push(key === 'chap' ? '--chap' : '--mutual-chap', `${text(c.user, `${where}.${key}.user`)}:${text(c.secret, `${where}.${key}.secret`)}`);
  }
  array(t.luns, `${where}.luns`).forEach((l, i) => args.push('--lun', lunArg(l, `${where}.luns[${i}]`)));
  return args;
}

function lunArg(raw: unknown, where: string): string {
  const l = object(raw, where);
  only(l, ['path', 'sizeBytes', 'thin', 'removable', 'readOnly', 'physicalBlockSize'], where);
  const path = text(l.path, `${where}.path`);
  const size = integer(l.sizeBytes ?? 0, `${where}.sizeBytes`);
  const opts: string[] = [];
  const flag = (key: keyof LunSpec, name: string): void => {
    if (l[key] === undefined) return;
    if (typeof l[key] !== 'boolean') throw new UsageError(`${where}.${key} must be true or false`);
    if (l[key]) opts.push(name);
  };
  flag('thin', 'thin');
  flag('removable', 'removable');
  flag('readOnly', 'readonly');
  if (l.physicalBlockSize !== undefined) opts.push(`physical=${integer(l.physicalBlockSize, `${where}.physicalBlockSize`)}`);
  // A block device without a size is served at the device's size (values.ts parseLun).
  const head = size > 0 ? `${path}:${size}` : path;
  return [head, ...opts].join(',');
}

function object(v: unknown, where: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`${where} must be an object`);
  return v as Json;
}

function array(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new UsageError(`${where} must be an array`);
  return v;
}

function text(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw new UsageError(`${where} must be a non-empty string`);
  return v;
}

function integer(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UsageError(`${where} must be a whole number`);
  return v;
}

function only(o: Json, keys: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new UsageError(`${where}: unknown key ${JSON.stringify(k)} (known: ${keys.join(', ')})`);
}
