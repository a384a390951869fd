/**
 * Work that waits while the user is acting: items pushed within `quietMs` of a click, key or wheel are handed over
 * once the page has been quiet that long, in order. The trace's batches go through one (lab.svelte.ts): under load,
 * a batch's timeline re-render in the same frame as a click pushed a tab switch past 300 ms.
 */
const INPUTS = ['pointerdown', 'keydown', 'wheel'] as const;

export class AfterInput<T> {
  private lastInputAt = -Infinity;
  private queue: T[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onInput = (): void => {
    this.lastInputAt = performance.now();
  };

  constructor(
    private readonly quietMs: number,
    private readonly handle: (item: T) => void,
  ) {}

  /** Starts watching the page's input; returns the stop function. */
  listen(): () => void {
    for (const t of INPUTS) window.addEventListener(t, this.onInput, { capture: true, passive: true });
    return () => {
      clearTimeout(this.timer);
      this.timer = undefined;
      for (const t of INPUTS) window.removeEventListener(t, this.onInput, { capture: true });
    };
  }

  push(item: T): void {
    this.queue.push(item);
    this.drain();
  }

  /** Hands over what waited: now if the page is quiet (or `force`), else once it is. */
  drain(force = false): void {
    const quietIn = this.lastInputAt + this.quietMs - performance.now();
    if (quietIn > 0 && !force) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, quietIn);
      return;
    }
    const items = this.queue;
    this.queue = [];
    for (const i of items) this.handle(i);
  }
}
