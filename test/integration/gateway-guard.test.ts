// The gateway against other web pages (server/gateway/request-guard.ts), through `iscsi-lab serve` as users start it:
// - cross-site request forgery: a text/plain or form POST (what any page can send without asking) and a POST from
//   another site or from another port of the same host is refused with 403 on every state-changing route, the
//   routes to come included, and changes nothing (the block is read back), with and without a token;
// - DNS rebinding: a Host that is not the lab's gets 421, on HTTP and on /ws.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rawRequest, startServe, type RawResponse, type Serve } from '../helpers/serve.ts';
import { freePort } from '../helpers/target.ts';

const LBA = 777;
const running: Serve[] = [];
afterAll(async () => {
  for (const s of running) expect(await s.stop()).toBe(0);
});

const json = (v: unknown): string => JSON.stringify(v);
const writeBody = json({ lun: 0, op: 'write', lba: LBA, blocks: 1, data: { pattern: 0x66 } });

/** What a browser sends for each kind of forged request (Chromium's headers, the Origin being the attacker's page). */
function forgeries(attackerOrigin: string, site: 'cross-site' | 'same-site'): { name: string; headers: Record<string, string> }[] {
  return [
    {
      name: `no-cors fetch from ${attackerOrigin}`,
      headers: { 'content-type': 'text/plain;charset=UTF-8', origin: attackerOrigin, 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors' },
    },
    {
      name: `<form enctype=text/plain> from ${attackerOrigin}`,
      headers: { 'content-type': 'text/plain', origin: attackerOrigin, 'sec-fetch-site': site, 'sec-fetch-mode': 'navigate' },
    },
    {
      name: `urlencoded form from ${attackerOrigin}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: attackerOrigin, 'sec-fetch-site': site },
    },
    {
      name: `multipart form from ${attackerOrigin}`,
      headers: { 'content-type': 'multipart/form-data; boundary=b', origin: attackerOrigin, 'sec-fetch-site': site },
    },
    {
      name: `JSON from ${attackerOrigin} (would need a CORS preflight the lab never grants)`,
      headers: { 'content-type': 'application/json', origin: attackerOrigin, 'sec-fetch-site': site, 'sec-fetch-mode': 'cors' },
    },
    { name: `octet-stream from ${attackerOrigin}`, headers: { 'content-type': 'application/octet-stream', origin: attackerOrigin } },
    { name: 'text/plain from a browser that sends no Origin', headers: { 'content-type': 'text/plain' } },
    { name: 'JSON from a sandboxed frame (Origin: null)', headers: { 'content-type': 'application/json', origin: 'null' } },
  ];
}

/** Every state-changing route, and one that does not exist yet: the check is central, not per route. */
const ROUTES: { method: string; path: string; body: string }[] = [
  { method: 'POST', path: '/api/io', body: writeBody },
  { method: 'POST', path: '/api/cache', body: json({ lun: 0, policy: 'arc', sizeBytes: 1024 * 1024 }) },
  { method: 'POST', path: '/api/step', body: json({ action: 'continue' }) },
  { method: 'POST', path: '/api/replay', body: json({ id: 'x' }) },
  { method: 'POST', path: '/api/capture/upload?name=x.jsonl', body: '{"type":"header","version":1}\n' },
  { method: 'PUT', path: '/api/io', body: writeBody },
  { method: 'DELETE', path: '/api/cache', body: '' },
  { method: 'POST', path: '/api/faults', body: json({ rule: 'drop' }) },
];

async function readBlock(s: Serve, headers: Record<string, string>): Promise<string> {
  const r = await rawRequest(s.http, 'POST', '/api/io', { 'content-type': 'application/json', ...headers }, json({ lun: 0, op: 'read', lba: LBA, blocks: 1 }));
  expect(r.status, r.body).toBe(200);
  return (JSON.parse(r.body) as { dataHex: string }).dataHex;
}

function expectRefused(r: RawResponse, what: string): void {
  expect(r.status, `${what}: ${r.body}`).toBe(403);
  expect((JSON.parse(r.body) as { error: string }).error, what).toMatch(/content-type|origin|another site/i);
}

describe('cross-site request forgery', () => {
  let s: Serve;
  beforeAll(async () => {
    s = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:8M', '--cache', '4M', '--cache-policy', 'lru', '--allow-host', 'lab.example']);
    running.push(s);
  });

  it('refuses text/plain, form and foreign-origin writes on every state-changing route, and nothing changes', async () => {
    const own = `http://127.0.0.1:${s.http}`;
    const seed = await rawRequest(
      s.http,
      'POST',
      '/api/io',
      { 'content-type': 'application/json', origin: own, 'sec-fetch-site': 'same-origin' },
      json({ lun: 0, op: 'write', lba: LBA, blocks: 1, data: { pattern: 0x11 } }),
    );
    expect(seed.status, seed.body).toBe(200);
    const before = await readBlock(s, {});
    expect(before).toBe('11'.repeat(512));
    const statsBefore = (await rawRequest(s.http, 'GET', '/api/stats')).body;
    const other = await freePort();
    let refused = 0;
    for (const f of [
      ...forgeries('http://evil.example', 'cross-site'),
      ...forgeries(`http://127.0.0.1:${other}`, 'same-site'),
      ...forgeries(`http://localhost:${other}`, 'same-site'),
    ]) {
      for (const route of ROUTES) {
        expectRefused(await rawRequest(s.http, route.method, route.path, f.headers, route.body), `${f.name} ${route.method} ${route.path}`);
        refused++;
      }
    }
    expect(refused).toBe(3 * 8 * ROUTES.length);
    expect(await readBlock(s, {})).toBe(before);
    expect(JSON.parse((await rawRequest(s.http, 'GET', '/api/stats')).body).luns[0].cache.policy).toBe(JSON.parse(statsBefore).luns[0].cache.policy);
    expect(JSON.parse((await rawRequest(s.http, 'GET', '/api/stats')).body).luns[0].cache.policy).toBe('lru');
  });

  it("lets the lab's own page (same origin), Vite's proxy and non-browser clients through", async () => {
    const own = `http://127.0.0.1:${s.http}`;
    const ok: Record<string, string>[] = [
      { origin: own, 'sec-fetch-site': 'same-origin' },
      { origin: own },
      { 'sec-fetch-site': 'same-origin' },
      {},
      { origin: `http://lab.example:${s.http}`, host: `lab.example:${s.http}` },
    ];
    for (const headers of ok) {
      const r = await rawRequest(
        s.http,
        'POST',
        '/api/io',
        { 'content-type': 'application/json; charset=utf-8', ...headers },
        json({ lun: 0, op: 'write', lba: LBA, blocks: 1, data: { pattern: 0x22 } }),
      );
      expect(r.status, `${JSON.stringify(headers)}: ${r.body}`).toBe(200);
    }
    expect(await readBlock(s, {})).toBe('22'.repeat(512));
    // A capture upload in its binary type is fine from the lab's page.
    const up = await rawRequest(
      s.http,
      'POST',
      '/api/capture/upload?name=x.jsonl',
      { 'content-type': 'application/octet-stream', origin: own, 'sec-fetch-site': 'same-origin' },
      '{"type":"header","version":1,"startWallMs":0,"producer":"t"}\n',
    );
    expect(up.status, up.body).toBe(200);
  });
});

describe('cross-site request forgery against a token-protected lab', () => {
  it('refuses a page on another port of the same host even though the SameSite cookie goes along', async () => {
    const s = await startServe('0.0.0.0', ['--lun', '$DIR/lun0.img:8M']);
    running.push(s);
    const token = /\?token=([0-9a-f]+)$/.exec(s.labUrl)![1]!;
    const cookie = `iscsi_lab_token=${token}`;
    const own = { cookie, origin: `http://127.0.0.1:${s.http}`, 'sec-fetch-site': 'same-origin' };
    const w = await rawRequest(
      s.http,
      'POST',
      '/api/io',
      { 'content-type': 'application/json', ...own },
      json({ lun: 0, op: 'write', lba: LBA, blocks: 1, data: { pattern: 0x33 } }),
    );
    expect(w.status, w.body).toBe(200);
    const other = await freePort();
    for (const f of forgeries(`http://127.0.0.1:${other}`, 'same-site')) {
      for (const route of ROUTES)
        expectRefused(await rawRequest(s.http, route.method, route.path, { ...f.headers, cookie }, route.body), `${f.name} ${route.path}`);
    }
    expect(await readBlock(s, own)).toBe('33'.repeat(512));
  });
});

function wsOutcome(url: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('message', () => {
      resolve('snapshot');
      ws.close();
    });
    ws.on('error', (e) => resolve(String(e)));
  });
}

describe('DNS rebinding', () => {
  it('answers 421 to a Host that is not the lab, on HTTP and /ws; its own names work', async () => {
    const s = running[0]!;
    const foreign = [
      'attacker.example',
      `attacker.example:${s.http}`,
      `127.0.0.1:${s.http + 1}`,
      `localhost.attacker.example:${s.http}`,
      `lab.example.evil:${s.http}`,
      `[::2]:${s.http}`,
    ];
    for (const host of foreign) {
      for (const path of ['/api/status', '/', '/api/capture.jsonl']) {
        const r = await rawRequest(s.http, 'GET', path, { host });
        expect(r.status, `${host} ${path}`).toBe(421);
        expect(r.body).not.toContain('iqn.');
      }
      const w = await rawRequest(s.http, 'POST', '/api/io', { host, 'content-type': 'application/json', origin: `http://${host}` }, writeBody);
      expect(w.status, host).toBe(421);
      expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws`, { host }), host).toMatch(/421/);
    }
    expect(JSON.parse((await rawRequest(s.http, 'GET', '/api/status', { host: `attacker.example:${s.http}` })).body).error).toMatch(
      /not this lab's.*--allow-host/,
    );
    for (const host of [`127.0.0.1:${s.http}`, `localhost:${s.http}`, `LOCALHOST:${s.http}`, `[::1]:${s.http}`, `lab.example:${s.http}`]) {
      expect((await rawRequest(s.http, 'GET', '/api/status', { host })).status, host).toBe(200);
      expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws`, { host }), host).toBe('snapshot');
    }
    const r = await rawRequest(s.http, 'POST', '/api/io', { 'content-type': 'application/json' }, json({ lun: 0, op: 'read', lba: LBA, blocks: 1 }));
    expect(r.status).toBe(200);
  });

  it('on a wildcard address (with its token) still refuses a foreign Host', async () => {
    const s = running[1]!;
    const token = /\?token=([0-9a-f]+)$/.exec(s.labUrl)![1]!;
    expect((await rawRequest(s.http, 'GET', `/api/status?token=${token}`, { host: `attacker.example:${s.http}` })).status).toBe(421);
    expect(await wsOutcome(`ws://127.0.0.1:${s.http}/ws?token=${token}`, { host: `attacker.example:${s.http}` })).toMatch(/421/);
    expect((await rawRequest(s.http, 'GET', `/api/status?token=${token}`, { host: `127.0.0.1:${s.http}` })).status).toBe(200);
  });
});

describe('a DELETE without a body', () => {
  it('passes without a content type (curl -X DELETE), but not from a foreign origin', async () => {
    const s = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:8M']);
    running.push(s);
    const rule = json({ action: 'delay', match: { pdu: 'NOP-In' }, delayMs: 1 });
    const add = async (): Promise<number> => {
      const r = await rawRequest(s.http, 'POST', '/api/faults', { 'content-type': 'application/json' }, rule);
      expect(r.status, r.body).toBe(201);
      return (JSON.parse(r.body) as { id: number }).id;
    };
    const listed = async (): Promise<number> => (JSON.parse((await rawRequest(s.http, 'GET', '/api/faults')).body) as { faults: unknown[] }).faults.length;
    const id = await add();
    const other = await freePort();
    expectRefused(
      await rawRequest(s.http, 'DELETE', `/api/faults/${id}`, { origin: `http://127.0.0.1:${other}`, 'sec-fetch-site': 'same-site' }),
      'bodyless DELETE from another port',
    );
    expect(await listed()).toBe(1);
    const del = await rawRequest(s.http, 'DELETE', `/api/faults/${id}`);
    expect(del.status, del.body).toBe(200);
    expect(await listed()).toBe(0);
  });
});
