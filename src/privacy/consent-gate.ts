import { LRUCache } from 'lru-cache';
import type { ConsentStore } from '../store/types.js';

/**
 * Whether a (pseudonymized) user opted out, asked on every event and list request of an
 * identified user: answers are cached per node, and a change made through any node reaches
 * every node's cache through the node bus (`update`). The cache also expires, so a bus
 * message lost while a node was cut off from Redis is corrected within `ttlMs`.
 */
export class ConsentGate {
  private readonly cache: LRUCache<string, { optedOut: boolean }>;

  constructor(
    private readonly store: ConsentStore,
    options: { max?: number; ttlMs?: number } = {},
  ) {
    this.cache = new LRUCache({ max: options.max ?? 100_000, ttl: options.ttlMs ?? 60_000 });
  }

  async optedOut(userId: string): Promise<boolean> {
    const cached = this.cache.get(userId);
    if (cached !== undefined) return cached.optedOut;
    const optedOut = await this.store.isOptedOut(userId);
    this.cache.set(userId, { optedOut });
    return optedOut;
  }

  /** A change announced on the bus (by this node or another). */
  update(userId: string, optedOut: boolean): void {
    this.cache.set(userId, { optedOut });
  }

  forget(userId: string): void {
    this.cache.delete(userId);
  }
}
