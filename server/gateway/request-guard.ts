import type { IncomingMessage } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';

/**
 * The gateway's two checks on who may talk to it, made once for every request before any route runs (and for the
 * /ws upgrade), so a route added later is covered without doing anything:
 *
 * - Host (DNS rebinding): a page on attacker.example whose name later resolves to 127.0.0.1 reaches the lab as
 *   "same origin" in the browser's eyes; only the Host header gives it away. Allowed: the address the lab is bound
 *   to, localhost, 127.0.0.1 and [::1], with the lab's port; bound to a wildcard address (0.0.0.0, ::), also this
 *   machine's interface addresses, its host name and names given with --allow-host. Anything else: 421.
 * - Cross-site request forgery: any page the user visits can POST to the lab (a `<form enctype="text/plain">`, a
 *   `no-cors` fetch), and with a token the SameSite cookie still goes along from a page on another port of the same
 *   host. A state-changing request (every method but GET, HEAD, OPTIONS) therefore needs a content type no page can
 *   send cross-origin without a CORS preflight, which the gateway never grants (application/json; the capture
 *   upload's binary types), and, when it comes from a browser, proof of the same origin: `Sec-Fetch-Site:
 *   same-origin` (or `none`: typed by the user), else an `Origin` equal to the lab's own. Requests with neither
 *   header are not from a browser (every current browser sends Origin on POST) and pass on the content type alone,
 *   as Go's net/http CrossOriginProtection does, so curl and scripts keep working. Refused: 403 with the reason.
 */
export interface RequestGuard {
  /** Why this request's Host is refused (answer 421), or undefined when it is one of the lab's names. */
  hostRefusal(req: IncomingMessage): string | undefined;
  /** Why this state-changing request is refused (answer 403), or undefined when it may proceed. */
  crossOriginRefusal(req: IncomingMessage, url: URL): string | undefined;
}

export interface RequestGuardOptions {
  /** The address the HTTP server is bound to (as given: 127.0.0.1, ::1, 0.0.0.0, a name). */
  host: string;
  /** The port it listens on (the real one, when 0 was asked). */
  port: number;
  /** More host names to accept (`serve --allow-host NAME`), e.g. the machine's DNS name in a classroom. */
  allowedHosts?: readonly string[];
  /** Origins allowed besides the lab's own (e.g. Vite's dev server, which proxies to the gateway). */
  extraOrigins?: readonly string[];
}

/** Paths that take a capture file as the body: besides JSON, these binary types (none a form or no-cors fetch can send). */
const UPLOAD_PATHS = new Set(['/api/capture/upload']);
const UPLOAD_TYPES = new Set(['application/octet-stream', 'application/vnd.tcpdump.pcap', 'application/x-pcapng', 'application/x-ndjson']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True when the request says it carries a body (a Content-Length above 0, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function normalizeName(name: string): string {
  return name
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}

/** `host[:port]` from a Host header or an origin's host part; undefined when it does not parse. */
export function splitHost(text: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  return { name: normalizeName(m[1]!), port: m[2] === undefined ? undefined : Number(m[2]) };
}

function isWildcard(host: string): boolean {
  const h = normalizeName(host);
  return h === '0.0.0.0' || h === '::' || h === '';
}

/** The names this machine answers to, for a lab bound to every interface. */
function machineNames(): string[] {
  const names = [hostname(), `${hostname()}.local`];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.push(a.address.replace(/%.*$/, ''));
  return names;
}

export function requestGuard(opts: RequestGuardOptions): RequestGuard {
  const names = new Set(['localhost', '127.0.0.1', '::1', normalizeName(opts.host), ...(opts.allowedHosts ?? []).map(normalizeName)]);
  if (isWildcard(opts.host)) for (const n of machineNames()) names.add(normalizeName(n));
  const extraOrigins = new Set(opts.extraOrigins ?? []);
  const listed = [...names].filter((n) => n !== '' && n !== '0.0.0.0' && n !== '::').map((n) => (isIP(n) === 6 ? `[${n}]` : n));

  const hostOk = (text: string): boolean => {
    const h = splitHost(text);
    return h !== undefined && names.has(h.name) && (h.port ?? 80) === opts.port;
  };

  return {
    hostRefusal(req) {
      const host = req.headers.host;
      if (host === undefined) return 'no Host header';
      if (hostOk(host)) return undefined;
      return (
        `Host ${JSON.stringify(host.slice(0, 100))} is not this lab's (it answers to ${listed.join(', ')} on port ${opts.port}; ` +
        'a DNS name can be allowed with --allow-host NAME)'
      );
    },
    crossOriginRefusal(req, url) {
      if (SAFE_METHODS.has(req.method ?? 'GET')) return undefined;
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const upload = UPLOAD_PATHS.has(url.pathname);
      // A DELETE with no body (`curl -X DELETE /api/faults/1`) carries no content to type; no form or no-cors fetch
      // can send DELETE, and a cross-origin fetch of it needs a preflight the gateway never grants. The origin
      // checks below still apply.
      const bodyless = req.method === 'DELETE' && type === '' && !hasBody(req);
      if (!bodyless && type !== 'application/json' && !(upload && UPLOAD_TYPES.has(type))) {
        const want = upload ? `application/octet-stream (or ${[...UPLOAD_TYPES].slice(1).join(', ')}, application/json)` : 'application/json';
        return (
          `${req.method} ${url.pathname} needs content-type ${want}, got ${type ? JSON.stringify(type) : 'none'}: ` +
          'the lab refuses bodies a page from another site could send (cross-site request forgery)'
        );
      }
      const site = req.headers['sec-fetch-site'];
      const origin = req.headers.origin;
      if (site === 'same-origin' || site === 'none') return undefined;
      if (origin !== undefined) {
        if (extraOrigins.has(origin)) return undefined;
        let o: URL | undefined;
        try {
          o = new URL(origin);
        } catch {
          o = undefined;
        }
        const from = o?.protocol === 'http:' ? splitHost(o.host) : undefined;
        const to = splitHost(req.headers.host ?? '');
        if (from && to && from.name === to.name && (from.port ?? 80) === (to.port ?? 80)) return undefined;
        return `${req.method} ${url.pathname} from origin ${JSON.stringify(origin.slice(0, 100))} refused: only the lab's own pages may change it`;
      }
      if (site !== undefined) return `${req.method} ${url.pathname} refused: the request came from another site (Sec-Fetch-Site: ${site})`;
      return undefined;
    },
  };
}
