/**
 * A bounded FIFO with two caps (entries and bytes): pushing past either evicts the oldest. Amortised O(1):
 * entries are appended to an array and the head index advances; the array is compacted when half is dead.
 */
export class Ring<T> {
  private items: T[] = [];
  private head = 0;
  private bytesHeld = 0;
  /** Entries evicted to make room since creation. */
  evicted = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number = () => 0,
  ) {}

  push(item: T): void {
    this.items.push(item);
    this.bytesHeld += this.sizeOf(item);
    while (this.length > this.maxEntries || (this.bytesHeld > this.maxBytes && this.length > 1)) this.shift();
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as T;
    this.head++;
    this.bytesHeld -= this.sizeOf(item);
    this.evicted++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** The i-th entry held, 0 being the oldest. */
  get(i: number): T {
    return this.items[this.head + i]!;
  }

  /** Oldest first; the last `n` entries when n is given. */
  toArray(n = this.length): T[] {
    return this.items.slice(Math.max(this.head, this.items.length - n));
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytesHeld = 0;
  }
}
