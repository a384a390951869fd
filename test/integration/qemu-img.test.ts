// qemu-img (qemu's block layer over libiscsi) copies a 64 MiB random image onto a LUN and back: the bytes that
// come back, and the bytes in the LUN's image file after a clean SIGTERM, are the bytes that went in.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain, requireTools, run } from '../helpers/exec.ts';
import { startTarget, type RunningTarget } from '../helpers/target.ts';

const SIZE = 64 * 1024 * 1024;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  for (let done = 0; done < bytes; done += 1024 * 1024) {
    if (!out.write(randomBytes(Math.min(1024 * 1024, bytes - done)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

describe('qemu-img convert through the target', () => {
  let t: RunningTarget;
  let src: string;
  let srcHash: string;

  beforeAll(async () => {
    requireTools('qemu-img');
    t = await startTarget({ luns: [{ size: '64M' }] });
    src = join(t.dir, 'source.raw');
    await writeRandomFile(src, SIZE);
    srcHash = await sha256(src);
  });
  afterAll(async () => {
    if (t?.alive()) await t.stop({ keepDir: true });
    if (t) rmSync(t.dir, { recursive: true, force: true });
  });

  it('sees a 64 MiB raw disk', async () => {
    const r = await run('qemu-img', ['info', '--output=json', t.url(0)]);
    expect(r.code, explain(r)).toBe(0);
    expect(JSON.parse(r.stdout)['virtual-size']).toBe(SIZE);
  });

  it('writes a random image onto the LUN and reads identical bytes back', async () => {
    const up = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', '-n', src, t.url(0)], { timeoutMs: 180_000 });
    expect(up.code, explain(up)).toBe(0);

    const back = join(t.dir, 'back.raw');
    const down = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', t.url(0), back], { timeoutMs: 180_000 });
    expect(down.code, explain(down)).toBe(0);
    expect(await sha256(back)).toBe(srcHash);

    // qemu-img compare reads both sides again, block by block
    const cmp = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, t.url(0)], { timeoutMs: 180_000 });
    expect(cmp.code, explain(cmp)).toBe(0);
  });

  it('leaves the same bytes in the LUN file after SIGTERM (flushed, exit 0)', async () => {
    const exit = await t.stop({ keepDir: true });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await sha256(t.lunPaths[0]!)).toBe(srcHash);
  });
});
