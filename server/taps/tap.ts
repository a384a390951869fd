/**
 * A layer tap: the one sideways exit for events out of a layer (framing, session, SCSI, store).
 *
 * Emitters guard with `if (tap.active)` before building an event, so a tap nobody listens to costs one
 * property read and allocates nothing. Listeners run synchronously and must not throw into the emitting layer:
 * a throwing listener is removed rather than allowed to break the data path.
 */
export type Listener<E> = (event: E) => void;

export class Tap<E> {
  private listeners: Listener<E>[] = [];
  /** True while at least one listener is attached; emitters check it before allocating an event. */
  active = false;

  constructor(readonly name: string) {}

  subscribe(listener: Listener<E>): () => void {
    this.listeners = [...this.listeners, listener];
    this.active = true;
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
      this.active = this.listeners.length > 0;
    };
  }

  emit(event: E): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.listeners = this.listeners.filter((l) => l !== listener);
        this.active = this.listeners.length > 0;
        process.emitWarning(`tap ${this.name}: listener removed after it threw: ${String(err)}`);
      }
    }
  }
}
