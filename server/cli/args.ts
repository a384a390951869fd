/** Command-line parsing for `iscsi-lab`: flags to a typed config, with one clear error per mistake. */
import { isIP } from 'node:net';
import { totalmem } from 'node:os';
import { LIMITS } from '../iscsi/constants.ts';
import type { TargetLimits } from '../iscsi/target.ts';
import { FaultRuleError, parseFaultSpec, type FaultRuleInput } from '../../shared/api/faults.ts';
import { CACHE_FLAGS, CacheFlagError, applyCacheFlag, defaultCacheConfig, type CacheConfig } from '../store/cache/config.ts';

export class UsageError extends Error {}

export interface LunSpec {
  path: string;
  sizeBytes: number;
  thin: boolean;
  removable: boolean;
  readOnly: boolean;
  /**
   * Physical block size in bytes (`physical=4096`): a power of two from the 512-byte logical block up to 2^15
   * logical blocks. READ CAPACITY(16) reports it as LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT. Default 512.
   */
  physicalBlockSize?: number;
}

/** One target of the instance: its name, LUNs, CHAP and ACL (`--iqn` and the target flags after it). */
export interface TargetSpec {
  iqn: string;
  luns: LunSpec[];
  chap?: { user: string; secret: string };
  mutualChap?: { user: string; secret: string };
  acl: string[];
}

/** The instance: the first target's settings at the top level, portals and limits shared by every target. */
export interface TargetConfig extends TargetSpec {
  portals: { host: string; port: number }[];
  /** Targets after the first, each opened by another `--iqn` (same portals; their own LUNs, CHAP and ACL). */
  moreTargets?: TargetSpec[];
  /** Block cache per LUN (`--cache SIZE`, `--cache-mode`, `--cache-policy`, `--readahead`); size 0: none. */
  cache?: CacheConfig;
  /** `--max-sessions`, `--max-connections`, `--max-commands`; unset ones keep the target's defaults. */
  limits?: Partial<TargetLimits>;
  /** `--fault ACTION[:key=value,...]`, repeatable: rules active from the start (shared/api/faults.ts). */
  faults?: FaultRuleInput[];
  /**
   * `--allow-target-reset`: carry out TARGET WARM / COLD RESET from any initiator. Without it they are refused with
   * "function rejected" (LIO's default), so one initiator cannot drop every other's commands and sessions.
   */
  allowTargetReset?: boolean;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const IQN = /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:.+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;

export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`bad size ${JSON.stringify(text)}: use a number with K, M, G or T (e.g. 64M)`);
  const bytes = Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!;
  if (bytes < 1024 * 1024 || bytes % 512 !== 0) throw new UsageError(`bad size ${text}: at least 1M and a multiple of 512 bytes`);
  return bytes;
}

/** Where `serve` puts the UI, API and /ws unless --http says otherwise: this machine only (see access-token.ts). */
export const DEFAULT_HTTP = '127.0.0.1:8080';

export function parsePortal(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`bad portal ${JSON.stringify(text)}: use HOST:PORT, e.g. 127.0.0.1:3260`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = m[2] === undefined ? 3260 : Number(m[2]);
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`bad port in portal ${text}`);
  return { host, port };
}

/** `serve --allow-host NAME`: a DNS name or address the lab's HTTP side answers to (server/gateway/request-guard.ts). */
export function parseHostName(text: string): string {
  if (isIP(text) === 0 && !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))$/.test(text)) {
    throw new UsageError(`bad --allow-host ${JSON.stringify(text)}: a host name or address without a port, e.g. lab.example.org`);
  }
  return text;
}

/** Logical block size of every LUN (server/store/file-store.ts default). */
export const LOGICAL_BLOCK_SIZE = 512;
/** READ CAPACITY(16) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT is a 4-bit field. */
const MAX_PHYSICAL_EXPONENT = 15;

/** `physical=BYTES` of --lun: a power-of-two multiple of the logical block size. */
function parsePhysical(value: string, lun: string): number {
  const m = /^(\d+)([KM]?)$/i.exec(value);
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]! : NaN;
  const blocks = bytes / LOGICAL_BLOCK_SIZE;
  if (!Number.isInteger(blocks) || blocks < 1 || (blocks & (blocks - 1)) !== 0 || blocks > 2 ** MAX_PHYSICAL_EXPONENT) {
    throw new UsageError(
      `bad physical=${value} in --lun ${lun}: the physical block size is a power of two from ${LOGICAL_BLOCK_SIZE} ` +
        `to ${LOGICAL_BLOCK_SIZE * 2 ** MAX_PHYSICAL_EXPONENT} bytes (e.g. physical=4096)`,
    );
  }
  return bytes;
}

/**
 * `PATH:SIZE[,opts]`, or for a block device `/dev/X[:SIZE][,opts]`: its size is the device's (SIZE 0 in the spec),
 * e.g. `/dev/loop0`, `/dev/loop0,readonly`.
 */
export function parseLun(text: string): LunSpec {
  const colon = text.lastIndexOf(':');
  const device = text.startsWith('/dev/');
  if (colon <= 0 && !device) throw new UsageError(`bad --lun ${JSON.stringify(text)}: use PATH:SIZE[,thin][,removable][,readonly][,physical=BYTES], or /dev/DEVICE[,...]`);
  const [head, ...deviceFlags] = colon > 0 ? [text.slice(0, colon)] : text.split(',');
  const path = head!;
  const [size, ...flags] = colon > 0 ? text.slice(colon + 1).split(',') : ['', ...deviceFlags];
  const sizeBytes = device && size === '' ? 0 : parseSize(size ?? '');
  const spec: LunSpec = { path, sizeBytes, thin: false, removable: false, readOnly: false };
  for (const f of flags) {
    if (f === 'thin') spec.thin = true;
    else if (f === 'removable') spec.removable = true;
    else if (f === 'readonly') spec.readOnly = true;
    else if (f.startsWith('physical=')) spec.physicalBlockSize = parsePhysical(f.slice('physical='.length), text);
    else throw new UsageError(`unknown LUN option ${JSON.stringify(f)} in --lun ${text}: use thin, removable, readonly or physical=BYTES`);
  }
  return spec;
}

const LIMIT_FLAGS: Record<string, { key: keyof TargetLimits; max: number }> = {
  '--max-sessions': { key: 'maxSessions', max: 0xffff }, // TSIH is 16 bits
  '--max-connections': { key: 'maxConnections', max: 65536 },
  // A window wider than 2^31 would make CmdSN comparison (RFC 1982 serial arithmetic) ambiguous; 2^16 is plenty.
  '--max-commands': { key: 'maxCommands', max: 65536 },
};

/** `--max-data-in-flight SIZE`: at least one largest command (32 MiB), at most the machine's memory. */
function parseDataInFlight(text: string): number {
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(text.trim());
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!(bytes >= LIMITS.maxWriteBytes && bytes <= totalmem())) {
    throw new UsageError(`bad --max-data-in-flight ${JSON.stringify(text)}: a size from ${LIMITS.maxWriteBytes >> 20}M (one largest command) to this machine's memory, e.g. 512M`);
  }
  return bytes;
}

function parseCount(flag: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) throw new UsageError(`bad ${flag} ${JSON.stringify(text)}: a whole number from 1 to ${max}`);
  return n;
}

function parseCredentials(flag: string, text: string): { user: string; secret: string } {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) throw new UsageError(`bad ${flag} value: use USER:SECRET`);
  const secret = text.slice(i + 1);
  // RFC 7143 12.1.3 wants at least 12 bytes for one-way secrets; shorter ones are allowed but warned about by the CLI.
  return { user: text.slice(0, i), secret };
}

/** RFC 7143 12.1.3: secrets of fewer than 96 random bits fall to an offline dictionary attack on one captured login. */
export const MIN_CHAP_SECRET_BYTES = 12;

/** Lines the CLI prints (as warnings) about a config that works but should not be used as it is. */
export function configWarnings(config: TargetConfig): string[] {
  const out: string[] = [];
  const pairs = [config, ...(config.moreTargets ?? [])].flatMap((t) => [['--chap', t.chap], ['--mutual-chap', t.mutualChap]] as const);
  for (const [flag, c] of pairs) {
    const bytes = c ? Buffer.byteLength(c.secret) : MIN_CHAP_SECRET_BYTES;
    if (bytes < MIN_CHAP_SECRET_BYTES) {
      out.push(`warning: the ${flag} secret is ${bytes} byte${bytes === 1 ? '' : 's'}; RFC 7143 12.1.3 wants at least ${MIN_CHAP_SECRET_BYTES} random bytes, ` +
        'shorter ones can be guessed offline from one captured login');
    }
  }
  return out;
}

/**
 * Parses `target` flags. Unknown flags and missing values are errors. `--lun`, `--chap`, `--mutual-chap` and `--acl`
 * belong to the target named by the `--iqn` before them (or the first one); each further `--iqn` opens another
 * target behind the same portals.
 */
export function parseTargetArgs(argv: readonly string[], defaults: Partial<TargetConfig> = {}): TargetConfig {
  const portals: TargetConfig['portals'] = [];
  type Draft = { iqn?: string; luns: LunSpec[]; acl: string[]; chap?: TargetSpec['chap']; mutualChap?: TargetSpec['mutualChap'] };
  const drafts: Draft[] = [{ luns: [], acl: [] }];
  let current = drafts[0]!;
  const cacheFlags: [string, string][] = [];
  let allowTargetReset = false;
  const limits: Partial<TargetLimits> = {};
  const faults: FaultRuleInput[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (arg.startsWith('--') && eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (CACHE_FLAGS.includes(flag)) {
      cacheFlags.push([flag, value()]);
      continue;
    }
    const limit = LIMIT_FLAGS[flag];
    if (limit) {
      limits[limit.key] = parseCount(flag, value(), limit.max);
      continue;
    }
    if (arg === '--allow-target-reset') {
      allowTargetReset = true;
      continue;
    }
    switch (flag) {
      case '--max-data-in-flight': limits.maxDataInFlight = parseDataInFlight(value()); break;
      case '--portal': portals.push(parsePortal(value())); break;
      case '--iqn': {
        const iqn = value();
        if (current.iqn !== undefined) drafts.push((current = { luns: [], acl: [] }));
        current.iqn = iqn;
        break;
      }
      case '--lun': current.luns.push(parseLun(value())); break;
      case '--chap': current.chap = parseCredentials(flag, value()); break;
      case '--mutual-chap': current.mutualChap = parseCredentials(flag, value()); break;
      case '--acl': current.acl.push(value()); break;
      case '--fault': {
        const spec = value();
        try {
          faults.push(parseFaultSpec(spec));
        } catch (err) {
          throw err instanceof FaultRuleError ? new UsageError(`bad --fault ${JSON.stringify(spec)}: ${err.message}`) : err;
        }
        break;
      }
      default: throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (portals.length === 0) portals.push(...(defaults.portals ?? [{ host: '127.0.0.1', port: 3260 }]));
  const targets = drafts.map((d, i) => checkTarget(d, i === 0 ? defaults : {}));
  const names = new Set<string>();
  const paths = new Set<string>();
  for (const t of targets) {
    if (names.has(t.iqn)) throw new UsageError(`--iqn ${t.iqn} given twice: each target needs its own name`);
    names.add(t.iqn);
    for (const l of t.luns) {
      if (paths.has(l.path)) throw new UsageError(`--lun ${l.path} given twice: each LUN needs its own file or device`);
      paths.add(l.path);
    }
  }
  // The defaults' cache goes with the defaults' LUNs: LUNs given with --lun have none unless --cache asks.
  let cache = drafts[0]!.luns.length === 0 ? defaults.cache : undefined;
  for (const [flag, v] of cacheFlags) {
    try {
      cache = applyCacheFlag(cache ?? defaultCacheConfig(), flag, v);
    } catch (err) {
      throw err instanceof CacheFlagError ? new UsageError(err.message) : err;
    }
  }
  const [first, ...more] = targets;
  return { portals, ...first!, limits, allowTargetReset, ...(more.length > 0 ? { moreTargets: more } : {}), ...(cache ? { cache } : {}), ...(faults.length ? { faults } : {}) };
}

/** One target's flags, checked: a valid name, at least one LUN (the first target may take them from `defaults`). */
function checkTarget(d: { iqn?: string; luns: LunSpec[]; acl: string[]; chap?: TargetSpec['chap']; mutualChap?: TargetSpec['mutualChap'] }, defaults: Partial<TargetConfig>): TargetSpec {
  const iqn = d.iqn ?? defaults.iqn;
  if (!iqn) throw new UsageError('--iqn is required (e.g. --iqn iqn.2026-11.org.iscsi-lab:lab)');
  if (!IQN.test(iqn)) throw new UsageError(`bad --iqn ${JSON.stringify(iqn)}: expected iqn.YYYY-MM.reversed.domain[:name]`);
  const luns = d.luns.length > 0 ? d.luns : [...(defaults.luns ?? [])];
  if (luns.length === 0) throw new UsageError(`at least one --lun PATH:SIZE is required for ${iqn}`);
  if (d.mutualChap && !d.chap) throw new UsageError(`--mutual-chap needs --chap as well (target ${iqn})`);
  // RFC 7143 12.1.3: a secret used to authenticate initiators must not also authenticate the target.
  if (d.chap && d.mutualChap && d.chap.secret === d.mutualChap.secret) {
    throw new UsageError(`--chap and --mutual-chap have the same secret (target ${iqn}): RFC 7143 12.1.3 forbids using one secret both ways; give each its own`);
  }
  for (const a of d.acl) if (!IQN.test(a)) throw new UsageError(`bad --acl ${JSON.stringify(a)}: expected an initiator IQN`);
  return { iqn, luns, chap: d.chap, mutualChap: d.mutualChap, acl: d.acl };
}
