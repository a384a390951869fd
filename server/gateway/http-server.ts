import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { ApiErrorAnswer } from '../../shared/api/status.ts';
import { accessToken, type AccessToken } from './access-token.ts';
import { HttpError, sendJson } from './api.ts';
import { requestGuard, type RequestGuard } from './request-guard.ts';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface GatewayOptions {
  /** The iSCSI target's URL, for the page served while the UI is not built. */
  iscsiUrl: string;
  host: string;
  port: number;
  /** Built UI (Vite output); a placeholder page is served when it does not exist. */
  webRoot: string;
  /**
   * The route table (lab-routes.ts), tried in order after the guard; every dependency a route needs exists before
   * the gateway starts. An /api path no route takes is a 404; anything else is the UI.
   */
  routes: readonly RouteHandler[];
  /** Required on every request when set; default: a fresh one when `host` is not a loopback address, else none. */
  token?: string;
  /** Host names accepted besides the bound address and localhost (see request-guard.ts). */
  allowedHosts?: readonly string[];
  /** Origins whose pages may change the lab besides its own (a dev server proxying to it). */
  extraOrigins?: readonly string[];
  log?: (m: string) => void;
}

export interface Gateway {
  server: Server;
  /** The lab's address, with `?token=...` when one is required. */
  url: string;
  /** Checks a request (HTTP or the /ws upgrade) for the token; always true when none is required. */
  access: AccessToken;
  /** The Host and cross-origin checks every request passes first; the /ws upgrade uses the Host one too. */
  guard: RequestGuard;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
};

const PLACEHOLDER = (iscsiUrl: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>iSCSI Lab</title></head>
<body><h1>iSCSI Lab</h1><p>The gateway is running. iSCSI target: <code>${iscsiUrl}</code></p>
<p>JSON API: <a href="/api/status">/api/status</a>, <a href="/api/capture.pcapng">/api/capture.pcapng</a>, WebSocket trace at <code>/ws</code>.</p>
<p>The UI has not been built (<code>npm run build</code>).</p></body></html>`;

/** HTTP side of the gateway: the JSON API and the built UI. The WebSocket hub attaches to `server`. */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const root = resolve(opts.webRoot);
  const access = accessToken(opts.host, opts.token);
  // Made once the real port is known (listen below), before any request can arrive.
  let guard: RequestGuard | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // One place for every route, present and future: DNS rebinding (Host), then the token, then request forgery.
    const misdirected = guard!.hostRefusal(req);
    if (misdirected) throw new HttpError(421, misdirected);
    if (!access.allows(req, url))
      throw new HttpError(
        401,
        'this lab listens beyond loopback: open the URL it printed (with ?token=...) or send the token as "authorization: Bearer TOKEN"',
      );
    const forged = guard!.crossOriginRefusal(req, url);
    if (forged) throw new HttpError(403, forged);
    // The page was opened with ?token=: a cookie carries it on the UI's own fetches and /ws from then on.
    if (access.required && url.searchParams.has('token')) res.setHeader('set-cookie', access.cookie());
    for (const route of opts.routes) if (await route(req, res, url)) return;
    if (url.pathname.startsWith('/api/')) throw new HttpError(404, `no API route ${url.pathname}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'GET only');
    await serveStatic(root, url.pathname, res, opts.iscsiUrl);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (status === 500) opts.log?.(`gateway ${req.method} ${req.url}: ${err instanceof Error ? (err.stack ?? message) : message}`);
      if (!res.headersSent) sendJson<ApiErrorAnswer>(res, status, { error: message });
      else res.end();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  guard = requestGuard({ host: opts.host, port, allowedHosts: opts.allowedHosts, extraOrigins: opts.extraOrigins });
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    server,
    url: `http://${host}:${port}/${access.required ? `?token=${access.token}` : ''}`,
    access,
    guard,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function serveStatic(root: string, pathname: string, res: ServerResponse, iscsiUrl: string): Promise<void> {
  // Resolve inside the UI folder only: a path that climbs out is a 404, never a file read elsewhere.
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    throw new HttpError(400, `path ${JSON.stringify(pathname.slice(0, 200))} is not valid percent-encoding`);
  }
  const rel = normalize(decoded).replace(/^([/\\])+/, '');
  let file = join(root, rel);
  if (file !== root && !file.startsWith(root + sep)) throw new HttpError(404, 'not found');
  let info = await stat(file).catch(() => undefined);
  if (info?.isDirectory()) {
    file = join(file, 'index.html');
    info = await stat(file).catch(() => undefined);
  }
  if (!info) {
    // Single-page app: unknown paths get the UI's index (or the placeholder when the UI is not built).
    const index = join(root, 'index.html');
    const body = await readFile(index).catch(() => undefined);
    res.writeHead(200, { 'content-type': MIME['.html']! });
    res.end(body ?? PLACEHOLDER(iscsiUrl));
    return;
  }
  res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
  res.end(await readFile(file));
}
