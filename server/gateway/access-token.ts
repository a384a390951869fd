import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The gateway's access token. On loopback the lab is the user's own (the /ws Origin check keeps other sites out);
 * bound to any other address, anyone on the network could drive the target, so every request, the UI's and /ws
 * included, must carry the token: `?token=`, `authorization: Bearer`, or the cookie set when the URL is opened.
 */
export interface AccessToken {
  readonly required: boolean;
  readonly token: string;
  allows(req: IncomingMessage, url: URL): boolean;
  /** Set-Cookie value that lets the browser carry the token (HttpOnly: page scripts never see it). */
  cookie(): string;
}

const COOKIE = 'iscsi_lab_token';

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h);
}

export function accessToken(host: string, given?: string): AccessToken {
  const required = given !== undefined || !isLoopback(host);
  const token = given ?? (required ? randomBytes(24).toString('hex') : '');
  const want = Buffer.from(token);
  const same = (got: string | undefined): boolean => {
    if (got === undefined) return false;
    const b = Buffer.from(got);
    return b.length === want.length && timingSafeEqual(b, want);
  };
  return {
    required,
    token,
    allows(req, url) {
      if (!required) return true;
      const auth = req.headers.authorization;
      const cookie = /(?:^|;\s*)iscsi_lab_token=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
      return same(url.searchParams.get('token') ?? undefined) || same(auth?.startsWith('Bearer ') ? auth.slice(7) : undefined) || same(cookie);
    },
    cookie: () => `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
  };
}
