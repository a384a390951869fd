/// <reference lib="dom" />
/**
 * `npm run bench -- ui` (npx tsx scripts/bench-ui.ts): is the page responsive while the target is flooded?
 *
 * Starts `iscsi-lab serve` on free loopback ports (temporary 256 MiB LUN, 16 MiB cache), opens the UI in Debian's
 * Chromium through Playwright, and for BENCH_UI_SECONDS (60) drives `qemu-img bench -d 16` (4 KiB reads, then
 * writes, back to back) and a qemu-io loop (64 KiB write + read) at the lab, while the page gets ACTIONS (50) user
 * actions spread over the run: tab clicks, timeline filter edits, the "hide NOPs" box and scrolls of the timeline.
 *
 * Click-to-effect is measured in the page's own clock: from the input event's timeStamp (when the browser
 * received the click or key, so time spent queued behind other main-thread work counts) to the first animation
 * frame at which the effect is in the DOM (the tab selected and its panel shown, the filtered count shown, the
 * scrolled rows rendered). Prints every action's time, p50/p95/max, the PDUs/s the target handled meanwhile (from
 * /api/trace/stats) and how much of the run the timeline spent in its sampled view. Exits 1 if p95 > 300 ms.
 * Options (env): BENCH_UI_SECONDS, BENCH_UI_ACTIONS, BENCH_UI_LOAD=0 (no traffic: the baseline),
 * BENCH_UI_TRACE=1 (where the page's main thread spent its time), BENCH_UI_PROFILE=1 (its JavaScript, by function),
 * BENCH_UI_HEADED=1 (watch it), CHROMIUM_PATH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { freePort } from '../test/helpers/target.ts';

const SECONDS = Number(process.env.BENCH_UI_SECONDS ?? 60);
const ACTIONS = Number(process.env.BENCH_UI_ACTIONS ?? 50);
const P95_LIMIT_MS = 300;
const root = new URL('..', import.meta.url).pathname;

const children = new Set<ChildProcess>();
function start(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}
function stopAll(): void {
  for (const c of children) c.kill('SIGTERM');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

async function startLab(dir: string): Promise<{ http: string; iscsi: string; proc: ChildProcess }> {
  const httpPort = await freePort();
  const iscsiPort = await freePort();
  const proc = start('./bin/iscsi-lab.cjs', [
    'serve',
    '--http',
    `127.0.0.1:${httpPort}`,
    '--portal',
    `127.0.0.1:${iscsiPort}`,
    '--lun',
    `${join(dir, 'lun0.img')}:256M`,
    '--cache',
    '16M',
  ]);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const iscsi = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iscsi-lab serve printed no ready line in 30 s\n${out}${err}`)), 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^ready (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => reject(new Error(`iscsi-lab serve exited (${code}) before ready\n${out}${err}`)));
  });
  return { http: `http://127.0.0.1:${httpPort}`, iscsi, proc };
}

/** qemu-img bench at depth 16, reads then writes, again and again until `until`. */
async function qemuImgLoop(url: string, until: number, counts: { ios: number }): Promise<void> {
  let write = false;
  while (Date.now() < until) {
    const args = ['bench', '-f', 'raw', '-t', 'none', '-d', '16', '-s', '4096', '-c', '20000', ...(write ? ['-w'] : []), url];
    const c = start('qemu-img', args);
    const timer = setTimeout(
      () => {
        c.kill('SIGTERM');
        setTimeout(() => c.kill('SIGKILL'), 2_000).unref();
      },
      Math.max(0, until - Date.now()),
    );
    const code = await new Promise<number | null>((r) => c.once('exit', r));
    clearTimeout(timer);
    if (code === 0) counts.ios += 20_000;
    write = !write;
  }
}

/** qemu-io, one process per round (a new session each time: login, write 64 KiB, read it back, logout). */
async function qemuIoLoop(url: string, until: number, counts: { rounds: number }): Promise<void> {
  let n = 0;
  while (Date.now() < until) {
    const off = (n++ % 1024) * 65536;
    const c = start('qemu-io', ['-f', 'raw', '-c', `write -P 0x5a ${off} 64k`, '-c', `read -P 0x5a ${off} 64k`, url]);
    const code = await new Promise<number | null>((r) => c.once('exit', r));
    if (code === 0) counts.rounds++;
  }
}

async function tracePdus(http: string): Promise<number> {
  const r = await fetch(`${http}/api/trace/stats`);
  return ((await r.json()) as { pdus: number }).pdus;
}

/** CPU seconds (user + system) of the processes under `root` (this script's children: browser, lab), by name. */
function cpuByName(rootPid: number): Map<string, number> {
  const procs = new Map<number, { ppid: number; name: string; cpu: number }>();
  const tick = 100; // USER_HZ on Linux
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(d), { ppid: Number(f[1]), name, cpu: (Number(f[11]) + Number(f[12])) / tick });
    } catch {
      // gone meanwhile
    }
  }
  const out = new Map<string, number>();
  for (const [pid, p] of procs) {
    let up = pid;
    let n = 0;
    while (up > 1 && up !== rootPid && n++ < 30) up = procs.get(up)?.ppid ?? 1;
    if (up !== rootPid || pid === rootPid) continue;
    const name = /chrom/i.test(p.name) ? 'chromium (all processes)' : p.name;
    out.set(name, (out.get(name) ?? 0) + p.cpu);
  }
  return out;
}

interface Timing {
  action: string;
  /** input event -> first frame showing the effect, page clock */
  ms: number;
  /** Playwright's call -> effect seen, this process's clock (adds the DevTools round trips) */
  wallMs: number;
}

/** Installs the page side of the measurement: the last input event's timeStamp, kept per action. */
async function instrument(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __inputAt: number };
    w.__inputAt = 0;
    for (const type of ['pointerdown', 'keydown', 'input', 'change', 'wheel']) {
      document.addEventListener(type, (e) => (w.__inputAt ||= e.timeStamp), { capture: true });
    }
    // Where slow interactions spend their time (Event Timing API): queued behind other work, handlers, rendering.
    const ww = window as unknown as { __slow: string[]; __long: number[] };
    ww.__slow = [];
    ww.__long = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries() as PerformanceEventTiming[]) {
        if (e.duration < 200) continue;
        ww.__slow.push(
          `${e.name}: queued ${(e.processingStart - e.startTime).toFixed(0)} ms, handlers ${(e.processingEnd - e.processingStart).toFixed(0)} ms, to paint ${(e.startTime + e.duration - e.processingEnd).toFixed(0)} ms`,
        );
      }
    }).observe({ type: 'event', durationThreshold: 104, buffered: false } as PerformanceObserverInit);
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) ww.__long.push(e.duration);
    }).observe({ type: 'longtask' });
  });
}

/**
 * Runs one action and waits for its effect, polled each animation frame inside the page. `effect` runs in the
 * page; for a scroll (no input event) the start is stamped by the page when it scrolls.
 */
async function measure(page: Page, action: string, act: () => Promise<void>, effect: string, arg?: unknown): Promise<Timing> {
  await page.evaluate(() => ((window as unknown as { __inputAt: number }).__inputAt = 0));
  const w0 = Date.now();
  await act();
  const handle = await page
    .waitForFunction(
      ([src, a]) => {
        const fn = new Function('arg', `return (${src})(arg)`) as (x: unknown) => boolean;
        const at = (window as unknown as { __inputAt: number }).__inputAt;
        // the input must have reached the page: an effect already true before it (a list still at the top) is no answer
        if (!at || !fn(a)) return false;
        return performance.now() - at;
      },
      [effect, arg] as const,
      { polling: 'raf', timeout: 20_000 },
    )
    .catch(async (err: unknown) => {
      const state = await page.evaluate(() => {
        const sc = document.querySelector('[data-testid=timeline] [style*="overflow-y"]');
        return { inputAt: (window as unknown as { __inputAt: number }).__inputAt, top: sc?.scrollTop, height: sc?.scrollHeight, client: sc?.clientHeight };
      });
      throw new Error(`${action}: no effect in 20 s (${JSON.stringify(state)}): ${String(err)}`);
    });
  const ms = (await handle.jsonValue()) as number;
  return { action, ms, wallMs: Date.now() - w0 };
}

const TABS = ['PDU inspector', 'Encapsulation', 'Console', 'Capture', 'Cache', 'I/O composer'];
const FILTERS = ['Data-In', 'WRITE', 'R2T', 'Login', ''];

async function act(page: Page, i: number): Promise<Timing> {
  switch (i % 5) {
    case 0:
    case 2: {
      const name = TABS[(i >> 1) % TABS.length]!;
      return measure(
        page,
        `tab ${name}`,
        () => page.getByRole('tab', { name, exact: true }).click(),
        `(name) => {
        const t = [...document.querySelectorAll('[role=tab]')].find((b) => b.textContent.trim() === name);
        return t && t.getAttribute('aria-selected') === 'true' && !document.getElementById(t.getAttribute('aria-controls')).hidden;
      }`,
        name,
      );
    }
    case 1: {
      const text = FILTERS[Math.floor(i / 5) % FILTERS.length]!;
      // the count shows "N of M PDUs" while a filter is on, "N PDUs" without one; the filter text is echoed in
      // data-filter once the list shows its result
      return measure(
        page,
        `filter "${text}"`,
        () => page.getByTestId('filter-opcode').fill(text),
        `(text) => {
        const el = document.querySelector('[data-testid=timeline]');
        return el && el.dataset.filter === text;
      }`,
        text,
      );
    }
    case 3: {
      const box = page.getByTestId('filter-hide-nops');
      const want = !(await box.isChecked());
      return measure(
        page,
        `hide NOPs ${want}`,
        () => box.setChecked(want),
        `(want) => {
        const el = document.querySelector('[data-testid=timeline]');
        return el && el.dataset.hideNops === String(want);
      }`,
        want,
      );
    }
    default: {
      // Scroll the timeline: to the top, or back down to the newest row.
      const toTop = Math.floor(i / 5) % 2 === 0;
      return measure(
        page,
        `scroll ${toTop ? 'top' : 'bottom'}`,
        async () => {
          // A scrollbar drag's end result, stamped when the page scrolls (a scroll is no input event of its own).
          await page.evaluate((top) => {
            const sc = document.querySelector<HTMLElement>('[data-testid=timeline] [style*="overflow-y"]')!;
            (window as unknown as { __inputAt: number }).__inputAt = performance.now();
            sc.scrollTop = top ? 0 : sc.scrollHeight;
          }, toTop);
        },
        `(toTop) => {
        const sc = document.querySelector('[data-testid=timeline] [style*="overflow-y"]');
        if (!sc) return false;
        const box = sc.getBoundingClientRect();
        const rows = [...sc.querySelectorAll('.row')];
        // the scrolled-to rows are rendered in the viewport (not a blank, not-yet-rendered stretch)
        const shown = !rows.length || rows.some((r) => { const b = r.getBoundingClientRect(); return b.bottom > box.top && b.top < box.bottom; });
        const atEnd = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 50;
        return shown && (toTop ? sc.scrollTop === 0 : atEnd);
      }`,
        toTop,
      );
    }
  }
}

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples?: number[];
  timeDeltas?: number[];
}

function printProfile(p: Profile): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const n = byId.get(samples[i]!)!;
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (deltas[i] ?? 0) / 1000);
  }
  console.log('page main thread, self time (ms):');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${v.toFixed(0).padStart(7)}  ${k}`);
}

interface TraceEvt {
  name: string;
  ph: string;
  dur?: number;
  tid: number;
  pid: number;
  args?: { name?: string; data?: { functionName?: string; url?: string } };
}

/** Time by trace event name on the renderer's main thread (nested events counted in their parents too). */
function printTrace(t: { traceEvents: TraceEvt[] }): void {
  const main = t.traceEvents.find(
    (e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain' && t.traceEvents.some((x) => x.pid === e.pid && x.name === 'FunctionCall'),
  );
  if (!main) return;
  const by = new Map<string, number>();
  for (const e of t.traceEvents) {
    if (e.pid !== main.pid || e.tid !== main.tid || e.ph !== 'X' || !e.dur) continue;
    const key = e.name === 'FunctionCall' || e.name === 'TimerFire' ? `${e.name} ${e.args?.data?.functionName ?? ''}` : e.name;
    by.set(key, (by.get(key) ?? 0) + e.dur / 1000);
  }
  console.log('renderer main thread by trace event (ms, nested counted twice):');
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${v.toFixed(0).padStart(7)}  ${k}`);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length * p) / 100) - 1)]!;
}

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist/web/index.html'))) throw new Error('no built UI in dist/web: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-lab-bench-ui-'));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: !process.env.BENCH_UI_HEADED,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const lab = await startLab(dir);
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(lab.http);
    await page.getByTestId('ws-state').filter({ hasText: 'live' }).waitFor();
    await instrument(page);

    // BENCH_UI_PROFILE=1: a CPU profile of the page's main thread over the run, top functions by self time.
    const cdp = process.env.BENCH_UI_PROFILE ? await page.context().newCDPSession(page) : undefined;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
    }
    // BENCH_UI_TRACE=1: a Chromium performance trace; prints where the renderer's main thread spent its time.
    if (process.env.BENCH_UI_TRACE) await browser.startTracing(page, { categories: ['devtools.timeline', 'v8', 'disabled-by-default-devtools.timeline'] });
    const pdus0 = await tracePdus(lab.http);
    const cpu0 = cpuByName(process.pid);
    const t0 = Date.now();
    const until = t0 + SECONDS * 1000;
    const ios = { ios: 0 };
    const rounds = { rounds: 0 };
    // BENCH_UI_LOAD=0: the same actions on an idle lab, the baseline the loaded figures compare with.
    const loaded =
      process.env.BENCH_UI_LOAD === '0'
        ? new Promise((r) => setTimeout(r, until - Date.now()))
        : Promise.all([qemuImgLoop(lab.iscsi, until, ios), qemuIoLoop(lab.iscsi, until, rounds)]);
    // the load window's end: PDUs and CPU are counted over it
    const load = loaded.then(async () => ({ at: Date.now(), pdus: await tracePdus(lab.http), cpu: cpuByName(process.pid) }));
    // Let the flood build up before the first action, then spread the actions over the rest of the run.
    await page.waitForTimeout(Math.min(5_000, SECONDS * 100));
    let sampledFrames = 0;
    let frames = 0;
    const timings: Timing[] = [];
    const gap = Math.max(0, (until - Date.now() - 2_000) / ACTIONS);
    for (let i = 0; i < ACTIONS; i++) {
      const t = await act(page, i);
      timings.push(t);
      process.stdout.write(`  ${String(i + 1).padStart(2)} ${t.action.padEnd(24)} ${t.ms.toFixed(0).padStart(6)} ms  (wall ${t.wallMs} ms)\n`);
      frames++;
      if (await page.getByTestId('sampled-banner').isVisible()) sampledFrames++;
      const next = t0 + 5_000 + (i + 1) * gap;
      if (next > Date.now()) await page.waitForTimeout(next - Date.now());
    }
    const banner =
      (await page
        .getByTestId('sampled-banner')
        .textContent()
        .catch(() => null)) ?? '(not shown)';
    const end = await load;
    const diag = await page
      .evaluate(() => window as unknown as { __slow: string[]; __long: number[] })
      .then(() =>
        page.evaluate(() => {
          const w = window as unknown as { __slow: string[]; __long: number[] };
          return { slow: w.__slow, long: w.__long };
        }),
      );
    const longs = diag.long.sort((a, b) => a - b);
    console.log(
      `long tasks on the page's main thread: ${longs.length}, ${longs.reduce((a, b) => a + b, 0).toFixed(0)} ms in all, longest ${(longs.at(-1) ?? 0).toFixed(0)} ms`,
    );
    for (const x of diag.slow) console.log(`  slow input: ${x}`);
    if (process.env.BENCH_UI_TRACE) printTrace(JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: TraceEvt[] });
    if (cdp) printProfile(((await cdp.send('Profiler.stop')) as { profile: Profile }).profile);
    const elapsed = (end.at - t0) / 1000;
    const cpu1 = end.cpu;
    const cpuText = ['chromium (all processes)', 'node'].map((k) => `${k} ${((cpu1.get(k) ?? 0) - (cpu0.get(k) ?? 0)).toFixed(1)} s`).join(', ');
    const pdus = end.pdus - pdus0;
    const ms = timings.map((t) => t.ms).sort((a, b) => a - b);
    const wall = timings.map((t) => t.wallMs).sort((a, b) => a - b);
    const p95 = pct(ms, 95);
    console.log('');
    console.log(`load: ${elapsed.toFixed(1)} s of qemu-img bench -d 16 (${ios.ios} 4 KiB I/Os completed in finished runs) + ${rounds.rounds} qemu-io rounds`);
    console.log(
      `CPU used meanwhile (of ${elapsed.toFixed(0)} s x ${availableParallelism()} cores, shared with whatever else runs; node = the lab): ${cpuText}`,
    );
    console.log(`target handled ${pdus} PDUs = ${Math.round(pdus / elapsed)} PDUs/s (from /api/trace/stats)`);
    console.log(`timeline sampled view at ${sampledFrames} of ${frames} actions; last banner: ${banner.trim()}`);
    console.log(
      `click-to-effect over ${ms.length} actions (page clock): p50 ${pct(ms, 50).toFixed(0)} ms, p95 ${p95.toFixed(0)} ms, max ${ms.at(-1)!.toFixed(0)} ms`,
    );
    console.log(`  Playwright call -> effect seen (adds DevTools round trips): p50 ${pct(wall, 50)} ms, p95 ${pct(wall, 95)} ms, max ${wall.at(-1)} ms`);
    if (errors.length) console.log(`page errors: ${errors.join('; ')}`);
    const ok = p95 <= P95_LIMIT_MS && errors.length === 0;
    console.log(ok ? `PASS: p95 ${p95.toFixed(0)} ms <= ${P95_LIMIT_MS} ms` : `FAIL: p95 ${p95.toFixed(0)} ms (limit ${P95_LIMIT_MS} ms)`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await browser.close();
    stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench-ui: ${err instanceof Error ? err.stack : err}`);
  stopAll();
  process.exit(1);
});
