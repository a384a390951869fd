/**
 * The target flags (`--iqn`, `--lun`, `--portal`, `--chap`, cache and limit flags...) parsed into a TargetConfig. The
 * command line passes them in, and a config document (config-file.ts) and the management API are turned into the
 * same flags, so every way in is checked by one parser.
 */
import { totalmem } from 'node:os';
import { LIMITS } from '../iscsi/constants.ts';
import type { TargetLimits } from '../iscsi/target.ts';
import { FaultRuleError, parseFaultSpec, type FaultRuleInput } from '../../shared/api/faults.ts';
import { CACHE_FLAGS, CacheFlagError, applyCacheFlag, defaultCacheConfig } from '../store/cache/config.ts';
import type { LunSpec, TargetConfig, TargetSpec } from './target-config.ts';
import { UsageError } from './usage-error.ts';
import { IQN, MIN_CHAP_SECRET_BYTES, parseCredentials, parseLun, parsePortal, SIZE_UNITS } from './values.ts';

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
    throw new UsageError(
      `bad --max-data-in-flight ${JSON.stringify(text)}: a size from ${LIMITS.maxWriteBytes >> 20}M (one largest command) to this machine's memory, e.g. 512M`,
    );
  }
  return bytes;
}

function parseCount(flag: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) throw new UsageError(`bad ${flag} ${JSON.stringify(text)}: a whole number from 1 to ${max}`);
  return n;
}

/** Lines the CLI prints (as warnings) about a config that works but should not be used as it is. */
export function configWarnings(config: TargetConfig): string[] {
  const out: string[] = [];
  const pairs = [config, ...(config.moreTargets ?? [])].flatMap(
    (t) =>
      [
        ['--chap', t.chap],
        ['--mutual-chap', t.mutualChap],
      ] as const,
  );
  for (const [flag, c] of pairs) {
    const bytes = c ? Buffer.byteLength(c.secret) : MIN_CHAP_SECRET_BYTES;
    if (bytes < MIN_CHAP_SECRET_BYTES) {
      out.push(
        `warning: the ${flag} secret is ${bytes} byte${bytes === 1 ? '' : 's'}; RFC 7143 12.1.3 wants at least ${MIN_CHAP_SECRET_BYTES} random bytes, ` +
          'shorter ones can be guessed offline from one captured login',
      );
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
      case '--max-data-in-flight':
        limits.maxDataInFlight = parseDataInFlight(value());
        break;
      case '--portal':
        portals.push(parsePortal(value()));
        break;
      case '--iqn': {
        const iqn = value();
        if (current.iqn !== undefined) drafts.push((current = { luns: [], acl: [] }));
        current.iqn = iqn;
        break;
      }
      case '--lun':
        current.luns.push(parseLun(value()));
        break;
      case '--chap':
        current.chap = parseCredentials(flag, value());
        break;
      case '--mutual-chap':
        current.mutualChap = parseCredentials(flag, value());
        break;
      case '--acl':
        current.acl.push(value());
        break;
      case '--fault': {
        const spec = value();
        try {
          faults.push(parseFaultSpec(spec));
        } catch (err) {
          throw err instanceof FaultRuleError ? new UsageError(`bad --fault ${JSON.stringify(spec)}: ${err.message}`) : err;
        }
        break;
      }
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
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
  return {
    portals,
    ...first!,
    limits,
    allowTargetReset,
    ...(more.length > 0 ? { moreTargets: more } : {}),
    ...(cache ? { cache } : {}),
    ...(faults.length ? { faults } : {}),
  };
}

/** One target's flags, checked: a valid name, at least one LUN (the first target may take them from `defaults`). */
function checkTarget(
  d: { iqn?: string; luns: LunSpec[]; acl: string[]; chap?: TargetSpec['chap']; mutualChap?: TargetSpec['mutualChap'] },
  defaults: Partial<TargetConfig>,
): TargetSpec {
  const iqn = d.iqn ?? defaults.iqn;
  if (!iqn) throw new UsageError('--iqn is required (e.g. --iqn iqn.2026-11.org.iscsi-lab:lab)');
  if (!IQN.test(iqn)) throw new UsageError(`bad --iqn ${JSON.stringify(iqn)}: expected iqn.YYYY-MM.reversed.domain[:name]`);
  const luns = d.luns.length > 0 ? d.luns : [...(defaults.luns ?? [])];
  if (luns.length === 0) throw new UsageError(`at least one --lun PATH:SIZE is required for ${iqn}`);
  if (d.mutualChap && !d.chap) throw new UsageError(`--mutual-chap needs --chap as well (target ${iqn})`);
  // RFC 7143 12.1.3: a secret used to authenticate initiators must not also authenticate the target.
  if (d.chap && d.mutualChap && d.chap.secret === d.mutualChap.secret) {
    throw new UsageError(
      `--chap and --mutual-chap have the same secret (target ${iqn}): RFC 7143 12.1.3 forbids using one secret both ways; give each its own`,
    );
  }
  for (const a of d.acl) if (!IQN.test(a)) throw new UsageError(`bad --acl ${JSON.stringify(a)}: expected an initiator IQN`);
  return { iqn, luns, chap: d.chap, mutualChap: d.mutualChap, acl: d.acl };
}
