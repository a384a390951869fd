/**
 * One tap source for the recorder made of two: the lab's own target and the proxy. Subscribing subscribes to both
 * (so each emits only while someone listens, as taps must); the proxy's connection ids are moved to their own
 * range so the two never share an id (task correlation keys on it).
 */
import type { PduEvent, SessionEvent } from '../iscsi/events.ts';
import { Tap, type Listener } from '../taps/tap.ts';
import type { IscsiTapSource } from '../trace/recorder.ts';

/** Connection ids of proxied connections start here. */
export const PROXY_CONNECTION_BASE = 1_000_000;

class ForwardingTap<E> extends Tap<E> {
  private count = 0;
  constructor(
    name: string,
    private readonly sources: readonly { tap: Tap<E>; map: (e: E) => E }[],
  ) {
    super(name);
  }

  override subscribe(listener: Listener<E>): () => void {
    const offs = this.sources.map((s) => s.tap.subscribe((e) => listener(s.map(e))));
    this.count++;
    this.active = true;
    return () => {
      for (const off of offs) off();
      this.active = --this.count > 0;
    };
  }
}

export function mergeTaps(target: IscsiTapSource, proxy: IscsiTapSource): IscsiTapSource {
  const same = <E>(e: E): E => e;
  const moved = <E extends { connectionId: number }>(e: E): E => ({ ...e, connectionId: e.connectionId + PROXY_CONNECTION_BASE });
  return {
    taps: {
      pdu: new ForwardingTap<PduEvent>('merged.pdu', [
        { tap: target.taps.pdu, map: same },
        { tap: proxy.taps.pdu, map: moved },
      ]),
      session: new ForwardingTap<SessionEvent>('merged.session', [
        { tap: target.taps.session, map: same },
        { tap: proxy.taps.session, map: moved },
      ]),
    },
  };
}
