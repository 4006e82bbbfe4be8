/**
 * How a node that accepted an event tells the shard's owner to look at the key's log. A note is
 * only a nudge: the event is already in the log, so a lost note delays a push until the key's
 * next event or activation, and never loses the event.
 *
 * Two ways a note can miss the owner, and what the next subscriber of the shard gets for them:
 * - The shard has no subscriber (its owner died, the takeover has not happened yet): the note is
 *   kept, once per key, until a subscriber comes.
 * - The subscriber does not act on it (its node is paused past its lease, and still counts as
 *   subscribed): every note is also remembered for `recentMs`, and a new subscriber gets every
 *   key noted that recently. The window must outlast a takeover (a few lease TTLs). A key
 *   handed over with nothing new costs its new owner an activation (and a push of its current
 *   list); exactly-once application holds through the event ids.
 */
export interface ShardMailbox {
  /** Delivers a note to the shard's subscriber, keeps it if there is none, and remembers it for `recentMs`. */
  notify(shard: number, key: string, recentMs: number): Promise<void>;
  /**
   * Delivers the shard's notes to `handler` until the returned function is called, starting
   * with the notes kept while the shard had no subscriber and those noted within `recentMs`,
   * each key once.
   */
  subscribe(shard: number, recentMs: number, handler: (key: string) => void): Promise<() => Promise<void>>;
  /** Drops kept and remembered notes for the key, if any (a user's deletion). */
  discard(shard: number, key: string): Promise<void>;
  close(): Promise<void>;
}

/** In-process delivery, shared by every node of one process (tests, the embedded mode). */
export class MemoryShardMailbox implements ShardMailbox {
  private readonly handlers = new Map<number, Set<(key: string) => void>>();
  private readonly kept = new Map<number, Set<string>>();
  /** Per shard, key -> when it was last noted; a Map iterates in insertion order, so oldest first. */
  private readonly recent = new Map<number, Map<string, number>>();

  async notify(shard: number, key: string, recentMs: number): Promise<void> {
    this.remember(shard, key, recentMs);
    const handlers = this.handlers.get(shard);
    if (handlers === undefined || handlers.size === 0) {
      this.kept.set(shard, (this.kept.get(shard) ?? new Set()).add(key));
      return;
    }
    for (const handler of handlers) queueMicrotask(() => handler(key));
  }

  async subscribe(shard: number, recentMs: number, handler: (key: string) => void): Promise<() => Promise<void>> {
    const set = this.handlers.get(shard) ?? new Set();
    set.add(handler);
    this.handlers.set(shard, set);
    const since = Date.now() - recentMs;
    const noted = [...(this.recent.get(shard) ?? [])].filter(([, at]) => at >= since).map(([key]) => key);
    const handed = new Set([...(this.kept.get(shard) ?? []), ...noted]);
    this.kept.delete(shard);
    for (const key of handed) queueMicrotask(() => handler(key));
    return async () => {
      set.delete(handler);
    };
  }

  async discard(shard: number, key: string): Promise<void> {
    const kept = this.kept.get(shard);
    kept?.delete(key);
    if (kept?.size === 0) this.kept.delete(shard);
    const recent = this.recent.get(shard);
    recent?.delete(key);
    if (recent?.size === 0) this.recent.delete(shard);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.kept.clear();
    this.recent.clear();
  }

  /** Notes the key as of now and forgets the shard's notes older than the window. */
  private remember(shard: number, key: string, recentMs: number): void {
    const now = Date.now();
    const recent = this.recent.get(shard) ?? new Map<string, number>();
    recent.delete(key);
    recent.set(key, now);
    for (const [noted, at] of recent) {
      if (at >= now - recentMs) break;
      recent.delete(noted);
    }
    this.recent.set(shard, recent);
  }
}
