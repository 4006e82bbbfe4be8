/**
 * How a node that accepted an event tells the shard's owner to look at the key's log. A note is
 * only a nudge: the event is already in the log, so a lost note delays a push until the key's
 * next event or activation, and never loses the event.
 */
export interface ShardMailbox {
  notify(shard: number, key: string): Promise<void>;
  /** Delivers the shard's notes to `handler` until the returned function is called. */
  subscribe(shard: number, handler: (key: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** In-process delivery, shared by every node of one process (tests, the embedded mode). */
export class MemoryShardMailbox implements ShardMailbox {
  private readonly handlers = new Map<number, Set<(key: string) => void>>();

  async notify(shard: number, key: string): Promise<void> {
    for (const handler of this.handlers.get(shard) ?? []) queueMicrotask(() => handler(key));
  }

  async subscribe(shard: number, handler: (key: string) => void): Promise<() => Promise<void>> {
    const set = this.handlers.get(shard) ?? new Set();
    set.add(handler);
    this.handlers.set(shard, set);
    return async () => {
      set.delete(handler);
    };
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
