/** The values of a target configuration, each parsed from its text with one clear error per mistake. */
// Also the serve command's HTTP values (DEFAULT_HTTP, --allow-host): the gateway's bind is configuration too.
import { isIP } from 'node:net';
import { UsageError } from './usage-error.ts';
import type { LunSpec } from './target-config.ts';

export const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
/** An iSCSI name as the target flags accept it (iqn., eui. or naa. form). */
export const IQN = /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:.+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;

export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`bad size ${JSON.stringify(text)}: use a number with K, M, G or T (e.g. 64M)`);
  const bytes = Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!;
  if (bytes < 1024 * 1024 || bytes % 512 !== 0) throw new UsageError(`bad size ${text}: at least 1M and a multiple of 512 bytes`);
  return bytes;
}

/** Where `serve` puts the UI, API and /ws unless --http says otherwise: this machine only (see access-token.ts). */
export const DEFAULT_HTTP = '127.0.0.1:8080';

/** `serve --allow-host NAME`: a DNS name or address the lab's HTTP side answers to (server/gateway/request-guard.ts). */
export function parseHostName(text: string): string {
  if (isIP(text) === 0 && !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))$/.test(text)) {
    throw new UsageError(`bad --allow-host ${JSON.stringify(text)}: a host name or address without a port, e.g. lab.example.org`);
  }
  return text;
}

export function parsePortal(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`bad portal ${JSON.stringify(text)}: use HOST:PORT, e.g. 127.0.0.1:3260`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = m[2] === undefined ? 3260 : Number(m[2]);
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`bad port in portal ${text}`);
  return { host, port };
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
  if (colon <= 0 && !device)
    throw new UsageError(`bad --lun ${JSON.stringify(text)}: use PATH:SIZE[,thin][,removable][,readonly][,physical=BYTES], or /dev/DEVICE[,...]`);
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

export function parseCredentials(flag: string, text: string): { user: string; secret: string } {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) throw new UsageError(`bad ${flag} value: use USER:SECRET`);
  const secret = text.slice(i + 1);
  // RFC 7143 12.1.3 wants at least 12 bytes for one-way secrets; shorter ones are allowed but warned about by the CLI.
  return { user: text.slice(0, i), secret };
}

/** RFC 7143 12.1.3: secrets of fewer than 96 random bits fall to an offline dictionary attack on one captured login. */
export const MIN_CHAP_SECRET_BYTES = 12;
