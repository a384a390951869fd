// Locked down by default, through `iscsi-lab serve` as users start it:
// - bound beyond loopback, the API, the UI and /ws want the token the lab URL carries; on loopback they do not;
// - CHAP secrets appear nowhere: not in /api/status, the captures, /ws, nor the process's output; wrong secrets are
//   refused, each after the failure delay; an initiator outside --acl is refused;
// - no path from the browser reaches a file outside the UI folder;
// - POST /api/io cannot write a read-only LUN, and writes nothing when it refuses;
// - replay uploads are capped (the limit the upload endpoint uses).
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import WebSocket from 'ws';
import { InitiatorSession } from '../../server/initiator/session.ts';
import { LoginError } from '../../server/initiator/login.ts';
import { readUpload, MAX_REPLAY_UPLOAD_BYTES } from '../../server/gateway/upload-limits.ts';
import { HttpError } from '../../server/gateway/api.ts';
import { isLoopback } from '../../server/gateway/access-token.ts';
import { DEFAULT_HTTP, parsePortal } from '../../server/config/values.ts';
import { rawRequest, startServe, type Serve } from '../helpers/serve.ts';

const IQN = 'iqn.2026-11.org.iscsi-lab:lab';
const SECRET = 'chap-secret-8f3a9c71';
const TARGET_SECRET = 'mutual-secret-d41e07b2';

const running: Serve[] = [];

async function serve(httpHost: string, extra: string[]): Promise<Serve> {
  const s = await startServe(httpHost, extra);
  running.push(s);
  return s;
}

afterAll(async () => {
  for (const s of running) expect(await s.stop()).toBe(0);
});

/** A GET with the path sent exactly as given (fetch would normalise `..` away). */
const rawGet = (port: number, path: string, headers: Record<string, string> = {}) => rawRequest(port, 'GET', path, headers);

function wsOutcome(url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('message', (d) => {
      resolve(`snapshot ${String(d).slice(0, 20)}`);
      ws.close();
    });
    ws.on('error', (e) => resolve(String(e)));
  });
}

describe('the gateway beyond loopback wants its token', () => {
  it('prints the lab URL with a token; without it the API, UI and /ws answer 401; with it (query, header or cookie) they work', async () => {
    const s = await serve('0.0.0.0', ['--lun', '$DIR/lun0.img:8M']);
    const m = /^http:\/\/0\.0\.0\.0:(\d+)\/\?token=([0-9a-f]{48})$/.exec(s.labUrl);
    expect(m, s.labUrl).not.toBeNull();
    const token = m![2]!;
    for (const path of [
      '/api/status',
      '/',
      '/index.html',
      '/api/capture.jsonl',
      `/api/status?token=${'0'.repeat(48)}`,
      `/api/status?token=${token.slice(1)}`,
    ]) {
      const r = await rawGet(s.http, path);
      expect(r.status, path).toBe(401);
      expect(r.body).not.toContain(IQN);
    }
    expect((await rawGet(s.http, '/api/status', { authorization: `Bearer ${'f'.repeat(48)}` })).status).toBe(401);
    const ok = await rawGet(s.http, `/api/status?token=${token}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain(IQN);
    const cookie = String(ok.headers['set-cookie']);
    expect(cookie).toMatch(/iscsi_lab_token=[0-9a-f]{48}; HttpOnly; SameSite=Strict/);
    expect((await rawGet(s.http, '/api/status', { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await rawGet(s.http, '/api/status', { cookie: cookie.split(';')[0]! })).status).toBe(200);
    const post = await fetch(`http://127.0.0.1:${s.http}/api/io`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lun: 0, op: 'write', lba: 0, blocks: 1, data: { text: 'x' } }),
    });
    expect(post.status).toBe(401);
    expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws`)).toMatch(/401/);
    expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws?token=nope`)).toMatch(/401/);
    expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws?token=${token}`)).toMatch(/^snapshot/);
    expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws`, { cookie: cookie.split(';')[0]! })).toMatch(/^snapshot/);
  });

  it('binds loopback unless told otherwise', () => {
    const http = parsePortal(DEFAULT_HTTP);
    expect(isLoopback(http.host), DEFAULT_HTTP).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'lab.example']) expect(isLoopback(host), host).toBe(false);
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) expect(isLoopback(host), host).toBe(true);
  });

  it('on loopback (the default) needs no token', async () => {
    const s = await serve('127.0.0.1', ['--lun', '$DIR/lun0.img:8M']);
    expect(s.labUrl).toBe(`http://127.0.0.1:${s.http}/`);
    expect((await rawGet(s.http, '/api/status')).status).toBe(200);
    expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws`)).toMatch(/^snapshot/);
  });
});

describe('CHAP secrets, ACL, paths, read-only LUNs', () => {
  let s: Serve;

  it('never shows a CHAP secret: not in /api/status, captures, /ws or the log; wrong secrets wait and fail', async () => {
    s = await serve('127.0.0.1', [
      '--lun',
      '$DIR/rw.img:8M',
      '--lun',
      '$DIR/ro.img:8M,readonly',
      '--chap',
      `labuser:${SECRET}`,
      '--mutual-chap',
      `tgtuser:${TARGET_SECRET}`,
      '--acl',
      'iqn.2026-11.org.iscsi-lab:gateway',
      '--acl',
      'iqn.2026-11.org.iscsi-lab:allowed',
    ]);
    const login = (user: string, secret: string, name = 'iqn.2026-11.org.iscsi-lab:allowed', mutual?: string) =>
      InitiatorSession.login({
        host: '127.0.0.1',
        port: s.port,
        targetName: IQN,
        initiatorName: name,
        chap: { user, secret },
        ...(mutual ? { mutualChap: { user: 'tgtuser', secret: mutual } } : {}),
      });
    const good = await login('labuser', SECRET, undefined, TARGET_SECRET);
    await good.logout();
    for (const [user, secret] of [
      ['labuser', 'wrong-secret-123'],
      ['mallory', SECRET],
      ['labuser', ''],
      ['labuser', SECRET.toUpperCase()],
    ] as const) {
      const started = Date.now();
      const err = await login(user, secret).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `${user}:${secret}`).toBeInstanceOf(LoginError);
      expect(((err as LoginError).statusClass << 8) | (err as LoginError).statusDetail).toBe(0x0201);
      // The failure delay (1 s) slows guessing: every wrong answer waits for it.
      expect(Date.now() - started, `${user}:${secret}`).toBeGreaterThanOrEqual(950);
    }
    // Right secret, initiator name outside --acl: refused (authorization failure 0x0202).
    const acl = await login('labuser', SECRET, 'iqn.2026-11.org.iscsi-lab:stranger').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(acl).toBeInstanceOf(LoginError);
    expect((acl as LoginError).statusDetail).toBe(0x02);
    // The lab's own initiator (on the ACL, with the CHAP credentials) drives I/O; then look everywhere.
    const w = await fetch(`http://127.0.0.1:${s.http}/api/io`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lun: 0, op: 'write', lba: 1, blocks: 1, data: { text: 'hi' } }),
    });
    expect(w.status).toBe(200);
    const ws = await new Promise<string>((resolve) => {
      const c = new WebSocket(`ws://127.0.0.1:${s.http}/ws`);
      c.on('message', (d) => {
        resolve(String(d));
        c.close();
      });
    });
    const places: Record<string, string> = {
      '/api/status': await (await fetch(`http://127.0.0.1:${s.http}/api/status`)).text(),
      '/api/capture.jsonl': await (await fetch(`http://127.0.0.1:${s.http}/api/capture.jsonl`)).text(),
      '/api/capture.pcapng': Buffer.from(await (await fetch(`http://127.0.0.1:${s.http}/api/capture.pcapng`)).arrayBuffer()).toString('latin1'),
      '/ws snapshot': ws,
      'serve output': s.out(),
    };
    expect(places['/api/capture.jsonl']).toContain('["CHAP_N","labuser"]'); // the logins are in the trace...
    for (const [where, text] of Object.entries(places)) {
      for (const secret of [SECRET, TARGET_SECRET]) {
        // ...but no secret, in clear, hex or base64.
        for (const form of [secret, Buffer.from(secret).toString('hex'), Buffer.from(secret).toString('base64')])
          expect(text.includes(form), `${form} in ${where}`).toBe(false);
      }
    }
    expect(JSON.parse(places['/api/status']!).target).toMatchObject({ chap: true, mutualChap: true });
  }, 30_000);

  it('serves no file outside the UI folder, whatever the path looks like', async () => {
    for (const path of [
      '/../../../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/%2e%2e%5c%2e%2e%5cetc%5cpasswd',
      '//etc/passwd',
      '/.%2e/.%2e/.%2e/etc/passwd',
      '/..%252f..%252fetc%252fpasswd',
      `/${'../'.repeat(12)}proc/self/environ`,
      '/%00/etc/passwd',
    ]) {
      const r = await rawGet(s.http, path);
      expect(r.body, path).not.toMatch(/root:x?:0:0|PATH=/);
      expect([200, 400, 404], path).toContain(r.status);
    }
    // And the LUN images beside the UI are not reachable by name either.
    for (const path of ['/rw.img', '/../rw.img', `/${encodeURIComponent(join(s.dir, 'rw.img'))}`]) {
      expect((await rawGet(s.http, path)).body.length, path).toBeLessThan(100_000);
    }
  });

  it('POST /api/io refuses to write a read-only LUN with a clear error, and the LUN file is unchanged', async () => {
    const file = join(s.dir, 'ro.img');
    const before = createHash('sha256').update(readFileSync(file)).digest('hex');
    for (const data of [{ text: 'overwrite' }, { pattern: 0xff }, { hex: 'deadbeef' }]) {
      const r = await fetch(`http://127.0.0.1:${s.http}/api/io`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ lun: 1, op: 'write', lba: 0, blocks: 4, data, fua: true }),
      });
      expect(r.status).toBe(403);
      expect(((await r.json()) as { error: string }).error).toMatch(/LUN 1 is read-only/);
    }
    // Reading it is fine.
    const rd = await fetch(`http://127.0.0.1:${s.http}/api/io`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lun: 1, op: 'read', lba: 0, blocks: 1 }),
    });
    expect(rd.status).toBe(200);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(before);
  });
});

describe('replay upload limit', () => {
  it(`refuses an upload over ${MAX_REPLAY_UPLOAD_BYTES} bytes with 413, declared or streamed, without keeping it`, async () => {
    const limit = 64 * 1024; // the same code with a small limit, so the test sends little
    const server = createServer((req, res) => {
      readUpload(req, limit).then(
        (b) => res.end(`got ${b.length}`),
        (e: unknown) => {
          res.writeHead(e instanceof HttpError ? e.status : 500, { connection: 'close' });
          res.end(String((e as Error).message));
        },
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const post = (body: Buffer, chunked: boolean) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: '/', headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length } },
          (res) => {
            let text = '';
            res
              .setEncoding('utf8')
              .on('data', (d: string) => (text += d))
              .on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        for (let i = 0; i < body.length; i += 8192) req.write(body.subarray(i, i + 8192));
        req.end();
      });
    expect(await post(Buffer.alloc(limit), false)).toEqual({ status: 200, body: `got ${limit}` });
    expect((await post(Buffer.alloc(limit + 1), false)).status).toBe(413);
    expect((await post(Buffer.alloc(limit * 4), true)).status).toBe(413);
    expect(await post(Buffer.alloc(100), true)).toEqual({ status: 200, body: 'got 100' });
    server.close();
    expect(MAX_REPLAY_UPLOAD_BYTES).toBeLessThanOrEqual(256 * 1024 * 1024);
  });
});
