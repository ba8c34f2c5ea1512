/**
 * A small typed, synchronous event hub: the one way committed changes reach
 * the parts that follow them (the route table, the brokers, the replicator,
 * metrics). It is created before every component, so each subscribes at
 * its own construction and nothing is bound afterwards.
 *
 * Emitters call `emit` only after their transaction committed. Handlers run
 * in subscription order on the emitter's stack; a handler that throws is
 * reported to `onError` and does not stop the others (a follower's bug
 * must not undo or hide a commit).
 */
export interface EventHub<Events extends object> {
  on<K extends keyof Events>(event: K, handler: (payload: Events[K]) => void): () => void;
  emit<K extends keyof Events>(event: K, payload: Events[K]): void;
}

export function createEventHub<Events extends object>(onError: (event: string, err: unknown) => void = () => {}): EventHub<Events> {
  const handlers = new Map<keyof Events, ((payload: never) => void)[]>();
  return {
    on(event, handler) {
      const list = handlers.get(event) ?? [];
      list.push(handler);
      handlers.set(event, list);
      return () => {
        const i = list.indexOf(handler);
        if (i >= 0) list.splice(i, 1);
      };
    },
    emit(event, payload) {
      const list = handlers.get(event);
      if (list === undefined) return;
      for (const h of list) {
        try {
          (h as (p: typeof payload) => void)(payload);
        } catch (e) {
          onError(String(event), e);
        }
      }
    },
  };
}
