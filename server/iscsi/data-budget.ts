import { totalmem } from 'node:os';

/**
 * One memory budget for the data of every command in flight on the target, read and write together. Each
 * connection already caps what it holds (LIMITS.maxTaskDataBytes), but 16 initiators that never read their READ data
 * pinned ~1.9 GiB and 8 that withhold a last Data-Out ~1 GiB: RSS followed whatever initiators chose to do.
 *
 * What is counted: a WRITE's buffer from the command's arrival until its data is complete (or the command ends);
 * a READ's data from the command's arrival until the socket has handed the last byte of it to the kernel (an
 * initiator that does not read keeps it in our memory, not the kernel's). Past the budget, a new command gets
 * TASK SET FULL (or BUSY when its connection has nothing else in flight, SAM-5 5.3), which initiators retry.
 * Two rules keep everyone else served meanwhile:
 * - a connection with nothing in flight may always run one small command (SMALL_COMMAND_BYTES), so a well-behaved
 *   initiator doing ordinary I/O is not starved by others (at most one such command per connection over budget);
 * - while the budget is under pressure, a connection that holds budget bytes and made no progress for STALL_MS
 *   (nothing read by the peer, no Data-Out arriving) is cut: its socket destroyed at once, its memory freed.
 */

/** A command this small runs on a connection that holds nothing, even over budget. */
export const SMALL_COMMAND_BYTES = 256 * 1024;
/** A connection holding budget bytes without progress for this long is cut while the budget is under pressure. */
export const STALL_MS = 10_000;
/** Under pressure: at least this share of the budget in use, or a command refused within STALL_MS. */
const PRESSURE_SHARE = 0.75;
/** How often stalled holders are looked for (only while under pressure; a cheap check otherwise). */
const CHECK_MS = 1000;

/** The default: an eighth of the machine's memory, from 128 MiB to 1 GiB. */
export function defaultDataInFlight(memory = totalmem()): number {
  return Math.min(1024 ** 3, Math.max(128 * 1024 ** 2, Math.floor(memory / 8 / (1024 * 1024)) * 1024 * 1024));
}

/** A connection's side of the budget. */
export interface BudgetHolder {
  /** Bytes it holds against the budget now. */
  readonly heldBytes: number;
  /** A counter that grows whenever the peer makes progress (reads our data, sends its Data-Out). */
  progressBytes(): number;
  /** Drops the connection at once (no flush): its held bytes come back as its writes fail. */
  cut(why: string): void;
}

interface Mark {
  progress: number;
  at: number;
}

export class DataBudget {
  used = 0;
  /** Commands refused for the budget since the target started. */
  refused = 0;
  /** Connections cut for holding budget without progress. */
  cuts = 0;
  private lastRefusalAt = -Infinity;
  private readonly holders = new Map<BudgetHolder, Mark>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limit: number,
    private readonly log: (message: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a command of `bytes` may start on a connection holding `held` bytes; counts a refusal when not. */
  admit(bytes: number, held: number): boolean {
    if (bytes === 0 || this.used + bytes <= this.limit || (held === 0 && bytes <= SMALL_COMMAND_BYTES)) return true;
    this.refused++;
    this.lastRefusalAt = this.now();
    return false;
  }

  charge(holder: BudgetHolder, bytes: number): void {
    this.used += bytes;
    if (!this.holders.has(holder)) this.holders.set(holder, { progress: holder.progressBytes(), at: this.now() });
  }

  release(holder: BudgetHolder, bytes: number): void {
    this.used -= bytes;
    if (holder.heldBytes <= 0) this.holders.delete(holder);
  }

  get holderCount(): number {
    return this.holders.size;
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Under pressure, cuts the holders that made no progress for STALL_MS. */
  check(): void {
    const now = this.now();
    const pressure = this.used >= this.limit * PRESSURE_SHARE || now - this.lastRefusalAt < STALL_MS;
    for (const [holder, mark] of this.holders) {
      const progress = holder.progressBytes();
      if (progress !== mark.progress || !pressure) {
        this.holders.set(holder, { progress, at: now });
        continue;
      }
      if (now - mark.at < STALL_MS) continue;
      this.cuts++;
      this.log(
        `${holder.heldBytes} bytes held for ${Math.round((now - mark.at) / 1000)} s without progress while the data-in-flight budget is under pressure ` +
          `(${this.used} of ${this.limit} bytes): connection cut`,
      );
      this.holders.delete(holder);
      holder.cut(`held ${holder.heldBytes} bytes of the data-in-flight budget without progress for ${STALL_MS / 1000} s`);
    }
  }
}
