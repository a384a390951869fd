/**
 * The gateway's Host and cross-origin checks (server/gateway/request-guard.ts) against what Debian's Chromium really
 * sends: a page on another port of the same host submits forms and no-cors fetches to every state-changing route
 * and gets 403, the block it aimed at reads back unchanged; a name resolved to 127.0.0.1 (DNS rebinding, simulated
 * with --host-resolver-rules) gets 421. Plain @playwright/test: the refused requests are the point, not console errors.
 */
import { createServer, type Server } from 'node:http';
import { chromium, expect, test } from '@playwright/test';

const LAB = process.env.ISCSI_LAB_E2E_URL!;
const LBA = 4242;
const ROUTES = ['/api/io', '/api/cache', '/api/step', '/api/replay', '/api/capture/upload?name=x.jsonl'];
const WRITE = JSON.stringify({ lun: 0, op: 'write', lba: LBA, blocks: 1, data: { pattern: 0xee } });

/** The attacker's pages: /form (text/plain form whose body is valid JSON), /urlencoded, and / (for fetches). */
function attackerPage(): string {
  const [name, value] = [WRITE.slice(0, -1) + ',"x":"', '"}'];
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/'/g, '&#39;');
  return `<!doctype html><title>a page on another port</title>
<form id=plain method=POST enctype="text/plain" action="${LAB}/api/io"><input name='${esc(name)}' value='${esc(value)}'></form>
<form id=url method=POST action="${LAB}/api/cache"><input name=policy value=arc><input name=lun value=0></form>`;
}

let server: Server;
let attacker: string;

test.beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(attackerPage());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  attacker = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
test.afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function block(request: import('@playwright/test').APIRequestContext): Promise<string> {
  const r = await request.post('/api/io', { data: { lun: 0, op: 'read', lba: LBA, blocks: 1 } });
  expect(r.status()).toBe(200);
  return ((await r.json()) as { dataHex: string }).dataHex;
}

test('a page on another port cannot change the lab: forms and no-cors fetches get 403, the block is unchanged', async ({ page, request }) => {
  expect((await request.post('/api/io', { data: { lun: 0, op: 'write', lba: LBA, blocks: 1, data: { pattern: 0x11 } } })).status()).toBe(200);
  const before = await block(request);
  expect(before).toBe('11'.repeat(512));
  const policy = ((await (await request.get('/api/stats')).json()) as { luns: { cache: { policy: string } }[] }).luns[0]!.cache.policy;
  await page.goto(attacker);

  // no-cors fetches with a text/plain body, the one cross-origin POST a page may send without asking.
  const statuses: Record<string, number> = {};
  page.on('response', (r) => {
    if (r.url().startsWith(LAB)) statuses[new URL(r.url()).pathname] = r.status();
  });
  const sent = await page.evaluate(
    async ({ lab, routes, body }) => {
      let n = 0;
      for (const route of routes) {
        await fetch(lab + route, { method: 'POST', mode: 'no-cors', body }).then(
          () => n++,
          () => undefined,
        );
      }
      return n;
    },
    { lab: LAB, routes: ROUTES, body: WRITE },
  );
  expect(sent).toBe(ROUTES.length);
  for (const route of ROUTES) expect(statuses[route.split('?')[0]!], route).toBe(403);

  // A text/plain form whose body is valid JSON, submitted the way a page can do it without any script.
  const [plain] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${LAB}/api/io`),
    page.locator('#plain').evaluate((f: HTMLFormElement) => f.submit()),
  ]);
  expect(plain.status()).toBe(403);
  expect(((await plain.json()) as { error: string }).error).toMatch(/content-type application\/json, got "text\/plain"/);
  await page.goto(attacker);
  const [url] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${LAB}/api/cache`),
    page.locator('#url').evaluate((f: HTMLFormElement) => f.submit()),
  ]);
  expect(url.status()).toBe(403);

  expect(await block(request)).toBe(before);
  expect(((await (await request.get('/api/stats')).json()) as { luns: { cache: { policy: string } }[] }).luns[0]!.cache.policy).toBe(policy);
});

test("the lab's own page still writes (its fetches send JSON from its own origin)", async ({ page, request }) => {
  await page.goto(LAB);
  const status = await page.evaluate(
    async (body) => (await fetch('/api/io', { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status,
    WRITE,
  );
  expect(status).toBe(200);
  expect(await block(request)).toBe('ee'.repeat(512));
});

test('DNS rebinding: a name that resolves to 127.0.0.1 gets 421', async () => {
  const port = new URL(LAB).port;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--host-resolver-rules=MAP rebind.test 127.0.0.1',
    ],
  });
  try {
    const page = await browser.newPage();
    for (const path of ['/', '/api/status']) {
      const r = await page.goto(`http://rebind.test:${port}${path}`);
      expect(r?.status(), path).toBe(421);
      expect(await r?.text()).not.toContain('iqn.');
    }
    // The same browser reaches the lab by its own name.
    expect((await page.goto(`http://localhost:${port}/api/status`))?.status()).toBe(200);
  } finally {
    await browser.close();
  }
});
