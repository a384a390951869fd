/** The `serve` command's own flags (besides the target flags, server/config/target-flags.ts). */
import { isIP } from 'node:net';
import { UsageError } from '../config/usage-error.ts';

/** Where `serve` puts the UI, API and /ws unless --http says otherwise: this machine only (see access-token.ts). */
export const DEFAULT_HTTP = '127.0.0.1:8080';

/** `serve --allow-host NAME`: a DNS name or address the lab's HTTP side answers to (server/gateway/request-guard.ts). */
export function parseHostName(text: string): string {
  if (isIP(text) === 0 && !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}))$/.test(text)) {
    throw new UsageError(`bad --allow-host ${JSON.stringify(text)}: a host name or address without a port, e.g. lab.example.org`);
  }
  return text;
}
