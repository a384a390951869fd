/**
 * The cache inspector's state: the chosen LUN, its counters sampled each second (the hit-rate chart), its cache map
 * (the heat map), the per-I/O outcomes the trace's store events carry, and live changes of policy, size and mode.
 */
import type { CacheTrace, StoreTraceEvent } from '../../../shared/trace/schema.ts';
import { ApiError, getCacheMap, getCacheStatsStrict, postCache, resetCacheStats, type CacheChange, type CacheMap, type CacheStats } from '../lib/api.ts';
import type { CacheSample, TouchedRange } from '../lib/heatmap.ts';
import { lab } from './lab.svelte.ts';

/** Samples kept for the chart: two minutes at one a second. */
export const MAX_SAMPLES = 120;
const POLL_MS = 1000;
/** How long a read or write keeps its cell marked as "recent". */
export const RECENT_MS = 15_000;
/** I/Os listed with their per-range outcomes. */
const RECENT_IOS = 40;
/** The cache size grammar of server/store/cache/config.ts parseCacheSize. */
const SIZE = /^(\d+)([KMG]?)(i?B)?$/i;

export interface IoOutcome {
  readonly seq: number;
  readonly wallMs: number;
  readonly kind: StoreTraceEvent['kind'];
  readonly lba: number;
  readonly blocks: number;
  readonly durationNs: number;
  readonly cache: CacheTrace;
  /** LBAs (logical blocks, not cache blocks) per outcome ("hit": 8, "miss": 24). */
  readonly counts: Readonly<Record<string, number>>;
  /** Reads: the share of the LBAs asked for that the cache held (hit or readahead hit); undefined for writes. */
  readonly hitShare?: number;
}

export class CacheInspector {
  lun = $state(0);
  stats = $state.raw<CacheStats | null>(null);
  map = $state.raw<CacheMap | null>(null);
  samples = $state.raw<CacheSample[]>([]);
  error = $state<string | null>(null);
  /** Whether `error` came from a failed poll (the next good poll clears it) or from the user's change (it stays). */
  private errorFromRefresh = false;
  /** Set when the LUN has no cache at all (started with --cache 0). */
  noCache = $state(false);
  busy = $state(false);
  lastChange = $state<string | null>(null);
  /** Wall ms of the last counter reset from this page: the per-I/O chart starts after it. */
  resetAt = $state(0);
  now = $state(Date.now());

  private timer: ReturnType<typeof setInterval> | undefined;
  private users = 0;
  private inFlight = false;

  /** Polls while at least one view shows the inspector; returns the release function. */
  watch(): () => void {
    if (this.users++ === 0) {
      void this.refresh();
      this.timer = setInterval(() => void this.refresh(), POLL_MS);
    }
    return () => {
      if (--this.users === 0) clearInterval(this.timer);
    };
  }

  setLun(lun: number): void {
    if (lun === this.lun) return;
    this.lun = lun;
    this.samples = [];
    this.map = null;
    this.stats = null;
    void this.refresh();
  }

  async refresh(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    const lun = this.lun;
    try {
      const all = await getCacheStatsStrict();
      const s = all.luns.find((l) => l.lun === lun)?.cache ?? null;
      this.now = Date.now();
      if (lun !== this.lun) return;
      this.noCache = s === null;
      this.stats = s;
      if (!s) {
        this.map = null;
        this.clearRefreshError();
        return;
      }
      const sample: CacheSample = { t: this.now, hits: s.hits, misses: s.misses, readaheadHits: s.readaheadHits };
      const next = this.samples.concat(sample);
      this.samples = next.length > MAX_SAMPLES ? next.slice(next.length - MAX_SAMPLES) : next;
      this.map = await getCacheMap(lun);
      this.clearRefreshError();
    } catch (err) {
      this.error = err instanceof ApiError ? `cache: ${err.message}` : String(err);
      this.errorFromRefresh = true;
    } finally {
      this.inFlight = false;
    }
  }

  /** A poll that works clears what a failed poll said, never the answer to the user's last change. */
  private clearRefreshError(): void {
    if (!this.errorFromRefresh) return;
    this.error = null;
    this.errorFromRefresh = false;
  }

  async change(c: Omit<CacheChange, 'lun'>, what: string): Promise<void> {
    // The gateway checks too; checking here first keeps a typo from becoming a failed request in the page's log.
    if (c.size !== undefined && !SIZE.test(c.size)) {
      this.error = `bad size ${JSON.stringify(c.size)}: use a size like 64M, 512K or 0 (off)`;
      this.errorFromRefresh = false;
      return;
    }
    await this.post(() => postCache({ ...c, lun: this.lun }), what);
  }

  /** Zeroes the LUN's counters on the target (POST /api/cache/reset-stats); the chart starts over with them. */
  async resetStats(): Promise<void> {
    await this.post(
      () => resetCacheStats(this.lun),
      'counters reset',
      () => {
        this.samples = [];
        this.resetAt = Date.now();
      },
    );
  }

  /** One change on the target: its answer becomes the stats on show, its error the message, then a fresh poll. */
  private async post(call: () => ReturnType<typeof postCache>, what: string, done?: () => void): Promise<void> {
    this.busy = true;
    try {
      const r = await call();
      this.stats = r.luns[0]?.cache ?? this.stats;
      done?.();
      this.lastChange = what;
      this.error = null;
      this.errorFromRefresh = false;
      await this.refresh();
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      this.errorFromRefresh = false;
    } finally {
      this.busy = false;
    }
  }

  /** Reads and writes of this LUN within RECENT_MS, for the heat map's "recently read/written" marks. */
  get touched(): TouchedRange[] {
    const out: TouchedRange[] = [];
    const since = this.now - RECENT_MS;
    const ev = lab.storeEvents;
    for (let i = ev.length - 1; i >= 0; i--) {
      const e = ev[i]!;
      if (e.wallMs < since) break;
      if (e.lun !== this.lun || (e.kind !== 'read' && e.kind !== 'write')) continue;
      out.push({ kind: e.kind, lba: e.lba, blocks: e.blocks, wallMs: e.wallMs });
    }
    return out;
  }

  /** The newest I/Os of this LUN with what the cache did for each. */
  get recentIos(): IoOutcome[] {
    const out: IoOutcome[] = [];
    const ev = lab.storeEvents;
    for (let i = ev.length - 1; i >= 0 && out.length < RECENT_IOS; i--) {
      const e = ev[i]!;
      if (e.lun !== this.lun || !e.cache) continue;
      const counts: Record<string, number> = {};
      for (const r of e.cache.ranges) counts[r.outcome] = (counts[r.outcome] ?? 0) + r.blocks;
      const looked = Object.values(counts).reduce((a, b) => a + b, 0);
      const held = (counts.hit ?? 0) + (counts['readahead-hit'] ?? 0);
      const io: IoOutcome = { seq: e.seq, wallMs: e.wallMs, kind: e.kind, lba: e.lba, blocks: e.blocks, durationNs: e.durationNs, cache: e.cache, counts };
      out.push(e.kind === 'read' && looked > 0 ? { ...io, hitShare: held / looked } : io);
    }
    return out;
  }

  /** Reads since the last reset, oldest first, each with its hit share: the per-I/O hit-rate bars. */
  get readBars(): IoOutcome[] {
    return this.recentIos
      .filter((io) => io.hitShare !== undefined && io.wallMs >= this.resetAt)
      .slice(0, MAX_BARS)
      .reverse();
  }
}

/** Bars in the per-I/O chart. */
export const MAX_BARS = 40;

export const cacheInspector = new CacheInspector();
