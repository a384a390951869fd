// Malformed input to the gateway and the CLI gets a clear 400 or exit 2 with the reason (or a warning line), never a
// 500, a stack trace in the log or a silently accepted mistake; and `serve`'s cache default is what the README says.
import { afterAll, describe, expect, it } from 'vitest';
import { explain, run } from '../helpers/exec.ts';
import { rawRequest, startServe, type Serve } from '../helpers/serve.ts';
import { CLI, freePort } from '../helpers/target.ts';

const running: Serve[] = [];
afterAll(async () => {
  for (const s of running) expect(await s.stop()).toBe(0);
});

const JSON_HEADERS = { 'content-type': 'application/json' };
const post = (s: Serve, path: string, body: unknown) => rawRequest(s.http, 'POST', path, JSON_HEADERS, JSON.stringify(body));

describe('gateway input', () => {
  it('POST /api/cache: out-of-range sizes and wrong types are 400 with the reason, and change nothing', async () => {
    const s = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:8M', '--cache', '4M']);
    running.push(s);
    const before = (await rawRequest(s.http, 'GET', '/api/stats')).body;
    const bad: [unknown, RegExp][] = [
      [{ sizeBytes: 1e300 }, /sizeBytes.*0 to \d+/],
      [{ sizeBytes: -1 }, /sizeBytes/],
      [{ sizeBytes: 1.5 }, /sizeBytes/],
      [{ size: '99999999999G' }, /size.*0 to \d+/],
      [{ size: [] }, /size must be/],
      [{ policy: {} }, /policy must be a string/],
      [{ policy: 'fifo' }, /cache-policy/],
      [{ mode: 42 }, /mode must be a string/],
      [{ readahead: { enabled: 'yes' } }, /readahead.enabled must be true or false/],
      [{ readahead: { windowBytes: 1e300 } }, /readahead.windowBytes/],
      [{ lun: '0', policy: 'lru' }, /lun must be an integer/],
      [{ lun: 9, policy: 'lru' }, /lun must be an integer/],
    ];
    for (const [body, reason] of bad) {
      const r = await post(s, '/api/cache', body);
      expect(r.status, `${JSON.stringify(body)}: ${r.body}`).toBe(400);
      expect((JSON.parse(r.body) as { error: string }).error, JSON.stringify(body)).toMatch(reason);
    }
    expect((await rawRequest(s.http, 'GET', '/api/stats')).body).toBe(before);
  });

  it('GET /% and other broken percent-encoding: 400, and no stack trace in the log', async () => {
    const s = running[0]!;
    for (const path of ['/%', '/%zz', '/a%e0%a4%a', '/%ff%fe']) {
      const r = await rawRequest(s.http, 'GET', path);
      expect(r.status, path).toBe(400);
      expect((JSON.parse(r.body) as { error: string }).error).toMatch(/percent-encoding/);
    }
    expect(s.out()).not.toMatch(/URIError|\n\s+at /);
  });

  it('replay works with CHAP credentials that need percent-encoding in a URL (was 502 "URI malformed")', async () => {
    const s = await startServe('127.0.0.1', [
      '--lun',
      '$DIR/lun0.img:8M',
      '--chap',
      'lab%user@x:secret/with%25-and@-0123',
      '--mutual-chap',
      'tgt%u:other:secret%zz-4567',
    ]);
    running.push(s);
    const w = await post(s, '/api/io', { lun: 0, op: 'write', lba: 5, blocks: 1, data: { text: 'replay me' } });
    expect(w.status, w.body).toBe(200);
    expect((await post(s, '/api/io', { lun: 0, op: 'read', lba: 5, blocks: 1 })).status).toBe(200);
    const capture = await rawRequest(s.http, 'GET', '/api/capture.jsonl');
    const up = await rawRequest(s.http, 'POST', '/api/capture/upload?name=own.jsonl', { 'content-type': 'application/octet-stream' }, capture.body);
    expect(up.status, up.body).toBe(200);
    const replay = await post(s, '/api/replay', { id: (JSON.parse(up.body) as { id: string }).id });
    expect(replay.status, replay.body).toBe(200);
    const report = JSON.parse(replay.body) as { commands: number; differences: number };
    expect(report.commands).toBeGreaterThanOrEqual(2);
    expect(report.differences).toBe(0);
  });
});

describe('CLI input', () => {
  it('the same secret for --chap and --mutual-chap: exit 2 citing RFC 7143 12.1.3', async () => {
    const port = await freePort();
    const r = await run(
      CLI,
      [
        'target',
        '--iqn',
        'iqn.2026-11.org.iscsi-lab:t',
        '--lun',
        '/tmp/never-created.img:8M',
        '--portal',
        `127.0.0.1:${port}`,
        '--chap',
        'u:same-secret-0123',
        '--mutual-chap',
        't:same-secret-0123',
      ],
      { timeoutMs: 10_000 },
    );
    expect(r.code, explain(r)).toBe(2);
    expect(r.stderr).toMatch(/same secret.*RFC 7143 12\.1\.3/);
    expect(r.stderr).not.toContain('same-secret-0123');
  });

  it('a URL with broken percent-encoding: exit 2 with the reason, not "URI malformed"', async () => {
    const r = await run(CLI, ['ls', 'iscsi://u%41%zz@127.0.0.1:1/iqn.2026-11.org.iscsi-lab:t/0'], { timeoutMs: 10_000 });
    expect(r.code, explain(r)).toBe(2);
    expect(r.stderr).toMatch(/percent-encoding/);
    expect(r.stderr).not.toMatch(/URI malformed|\n\s+at /);
  });

  it('a 1-byte CHAP secret starts with a warning line; 12 bytes do not warn', async () => {
    const short = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:8M', '--chap', 'u:x', '--mutual-chap', 't:0123456789ab']);
    running.push(short);
    expect(short.out()).toMatch(/^iscsi-lab: warning: the --chap secret is 1 byte; RFC 7143 12\.1\.3 wants at least 12/m);
    expect(short.out()).not.toMatch(/--mutual-chap secret is/);
  });

  it('serve: LUNs given with --lun have no cache unless --cache asks; the embedded default LUN keeps its 16 MiB', async () => {
    const given = running[0]!;
    const plain = await startServe('127.0.0.1', ['--lun', '$DIR/lun0.img:8M']);
    running.push(plain);
    expect(JSON.parse((await rawRequest(plain.http, 'GET', '/api/stats')).body).luns).toEqual([{ lun: 0, cache: null }]);
    expect(JSON.parse((await rawRequest(given.http, 'GET', '/api/stats')).body).luns[0].cache.sizeBytes).toBe(4 << 20);
    const embedded = await startServe('127.0.0.1', ['--cache-policy', 'arc']);
    running.push(embedded);
    expect(JSON.parse((await rawRequest(embedded.http, 'GET', '/api/stats')).body).luns[0].cache).toMatchObject({
      sizeBytes: 16 << 20,
      policy: 'arc',
      mode: 'write-back',
    });
  });
});
