/**
 * How a node that accepted an event tells the shard's owner to look at the key's log. A note is
 * only a nudge: the event is already in the log, so a lost note delays a push until the key's
 * next event or activation, and never loses the event.
 *
 * A shard has no subscriber between the death of its owner and the takeover; notes sent then
 * are kept (once per key) and handed to the next subscriber when it subscribes, so a session
 * that went quiet still gets the push for its last event.
 */
export interface ShardMailbox {
  notify(shard: number, key: string): Promise<void>;
  /**
   * Delivers the shard's notes to `handler` until the returned function is called, starting
   * with the notes kept while the shard had no subscriber.
   */
  subscribe(shard: number, handler: (key: string) => void): Promise<() => Promise<void>>;
  /** Drops a kept note for the key, if any (a user's deletion). */
  discard(shard: number, key: string): Promise<void>;
  close(): Promise<void>;
}

/** In-process delivery, shared by every node of one process (tests, the embedded mode). */
export class MemoryShardMailbox implements ShardMailbox {
  private readonly handlers = new Map<number, Set<(key: string) => void>>();
  private readonly kept = new Map<number, Set<string>>();

  async notify(shard: number, key: string): Promise<void> {
    const handlers = this.handlers.get(shard);
    if (handlers === undefined || handlers.size === 0) {
      this.kept.set(shard, (this.kept.get(shard) ?? new Set()).add(key));
      return;
    }
    for (const handler of handlers) queueMicrotask(() => handler(key));
  }

  async subscribe(shard: number, handler: (key: string) => void): Promise<() => Promise<void>> {
    const set = this.handlers.get(shard) ?? new Set();
    set.add(handler);
    this.handlers.set(shard, set);
    const kept = this.kept.get(shard) ?? new Set<string>();
    this.kept.delete(shard);
    for (const key of kept) queueMicrotask(() => handler(key));
    return async () => {
      set.delete(handler);
    };
  }

  async discard(shard: number, key: string): Promise<void> {
    const kept = this.kept.get(shard);
    if (kept === undefined) return;
    kept.delete(key);
    if (kept.size === 0) this.kept.delete(shard);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.kept.clear();
  }
}
