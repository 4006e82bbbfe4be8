import type { LogEntry, NewLogEntry } from '../actors/events.js';
import { MemoryShardMailbox } from './mailbox.js';
import { MemoryLeaseStore } from './memory-leases.js';
import { DEFAULT_SHARD_COUNT, assertFenceShard, assertShardCount } from './shard.js';
import {
  compareEventIds,
  FencedError,
  type Fence,
  type CatalogItem,
  type CatalogItemUpdate,
  type CatalogStore,
  type EventLog,
  type IdentityStore,
  type PushLog,
  type PushRecord,
  type UserAttributes,
  type UserStore,
  type SnapshotStore,
  type StoredSnapshot,
  type Stores,
} from './types.js';

/** Single-node stores: the embedded default. Same contracts as the Redis ones. */
export class MemoryEventLog implements EventLog {
  private readonly logs = new Map<string, LogEntry[]>();
  private readonly lastId = new Map<string, { ms: number; seq: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async append(key: string, entry: NewLogEntry): Promise<LogEntry> {
    const id = this.nextId(key);
    const stored = { ...entry, eventId: id } as LogEntry;
    const log = this.logs.get(key);
    if (log) log.push(stored);
    else this.logs.set(key, [stored]);
    return stored;
  }

  async read(key: string, afterId: string | null): Promise<LogEntry[]> {
    const log = this.logs.get(key) ?? [];
    return afterId === null ? [...log] : log.filter((e) => compareEventIds(e.eventId, afterId) > 0);
  }

  async trim(key: string, throughId: string, keep: number): Promise<number> {
    const log = this.logs.get(key);
    if (!log) return 0;
    let covered = 0;
    while (covered < log.length && compareEventIds(log[covered].eventId, throughId) <= 0) covered++;
    const drop = Math.max(0, covered - keep);
    log.splice(0, drop);
    return drop;
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.logs.keys()].filter((key) => key.startsWith(prefix));
  }

  /** Like Redis XADD `*`: milliseconds, then a sequence within the millisecond. */
  private nextId(key: string): string {
    const now = this.now();
    const last = this.lastId.get(key);
    const next = last && last.ms >= now ? { ms: last.ms, seq: last.seq + 1 } : { ms: now, seq: 0 };
    this.lastId.set(key, next);
    return `${next.ms}-${next.seq}`;
  }
}

export class MemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<string, StoredSnapshot>();

  /** Fenced puts check `leases`; a store made without one refuses every fenced put (no lease is held). */
  constructor(
    private readonly leases: MemoryLeaseStore = new MemoryLeaseStore(DEFAULT_SHARD_COUNT),
    private readonly shardCount: number = DEFAULT_SHARD_COUNT,
  ) {}

  async get(key: string): Promise<StoredSnapshot | null> {
    return this.snapshots.get(key) ?? null;
  }

  async put(snapshot: StoredSnapshot, fence?: Fence): Promise<boolean> {
    if (fence) {
      assertFenceShard(fence, snapshot.key, this.shardCount);
      const currentEpoch = this.leases.currentEpoch(fence.shard);
      if (currentEpoch !== fence.epoch) throw new FencedError(fence.shard, fence.epoch, currentEpoch);
    }
    const current = this.snapshots.get(snapshot.key);
    if (current && compareEventIds(current.lastEventId, snapshot.lastEventId) > 0) return false;
    const { epoch: _ignored, ...unfenced } = snapshot;
    this.snapshots.set(snapshot.key, fence ? { ...unfenced, epoch: fence.epoch } : unfenced);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.snapshots.delete(key);
  }
}

/** Pushes kept per actor key for replay (memory and Redis alike). */
export const PUSHES_KEPT = 1000;

/** How many catalog writes the change log remembers (memory and Redis alike). */
export const CATALOG_CHANGES_KEPT = 10_000;

export class MemoryCatalogStore implements CatalogStore {
  private readonly items = new Map<string, CatalogItem>();
  private changes = 0;
  /** The latest writes' item ids, oldest first; the last one is version `changes`. */
  private readonly changeLog: string[][] = [];

  constructor(private readonly changesKept = CATALOG_CHANGES_KEPT) {}

  async upsert(updates: readonly CatalogItemUpdate[]): Promise<CatalogItem[]> {
    if (updates.length > 0) {
      this.changes++;
      this.changeLog.push([...new Set(updates.map((update) => update.itemId))]);
      if (this.changeLog.length > this.changesKept) this.changeLog.shift();
    }
    return updates.map((update) => {
      const merged = mergeItem(this.items.get(update.itemId), update);
      this.items.set(merged.itemId, merged);
      return merged;
    });
  }

  async list(): Promise<CatalogItem[]> {
    return [...this.items.values()];
  }

  async get(itemIds: readonly string[]): Promise<CatalogItem[]> {
    return itemIds.flatMap((id) => this.items.get(id) ?? []);
  }

  async version(): Promise<number> {
    return this.changes;
  }

  async changesSince(version: number): Promise<{ version: number; itemIds: string[] } | null> {
    const missed = this.changes - version;
    if (missed < 0 || missed > this.changeLog.length) return null;
    return { version: this.changes, itemIds: [...new Set(this.changeLog.slice(this.changeLog.length - missed).flat())] };
  }
}

/** A new item gets neutral defaults for what the update leaves out. */
export function mergeItem(current: CatalogItem | undefined, update: CatalogItemUpdate): CatalogItem {
  const base: CatalogItem = current ?? { itemId: update.itemId, title: update.itemId, category: 'uncategorized', price: 0, inStock: true };
  return {
    itemId: base.itemId,
    title: update.title ?? base.title,
    category: update.category ?? base.category,
    price: update.price ?? base.price,
    inStock: update.inStock ?? base.inStock,
  };
}

export class MemoryPushLog implements PushLog {
  private readonly pushes = new Map<string, PushRecord[]>();

  constructor(private readonly keep: number) {}

  async record(key: string, push: PushRecord): Promise<void> {
    const list = this.pushes.get(key) ?? [];
    list.push(structuredClone(push));
    if (list.length > this.keep) list.splice(0, list.length - this.keep);
    this.pushes.set(key, list);
  }

  async read(key: string): Promise<PushRecord[]> {
    return structuredClone(this.pushes.get(key) ?? []);
  }
}

export class MemoryUserStore implements UserStore {
  // A Map per user, so no attribute name can reach an object prototype.
  private readonly profiles = new Map<string, Map<string, string>>();

  async put(users: ReadonlyArray<{ userId: string; attributes: UserAttributes }>): Promise<void> {
    for (const { userId, attributes } of users) {
      const profile = this.profiles.get(userId) ?? new Map<string, string>();
      for (const [name, value] of Object.entries(attributes)) profile.set(name, value);
      profile.set('USER_ID', userId);
      this.profiles.set(userId, profile);
    }
  }

  async get(userId: string): Promise<UserAttributes | null> {
    const profile = this.profiles.get(userId);
    return profile === undefined ? null : Object.fromEntries(profile);
  }
}

export class MemoryIdentityStore implements IdentityStore {
  private readonly users = new Map<string, string>();

  async userOf(sessionId: string): Promise<string | null> {
    return this.users.get(sessionId) ?? null;
  }

  async link(sessionId: string, userId: string): Promise<void> {
    this.users.set(sessionId, userId);
  }
}

export interface MemoryStoresOptions {
  shardCount?: number;
  now?: () => number;
  /** Several in-process nodes share these stores (tests of sharding without Redis). */
  sharedByNodes?: boolean;
  /** Pushes kept per key for replay. Default 1000. */
  pushesKept?: number;
}

export function createMemoryStores(options: MemoryStoresOptions = {}): Stores {
  const shardCount = options.shardCount ?? DEFAULT_SHARD_COUNT;
  assertShardCount(shardCount);
  const leases = new MemoryLeaseStore(shardCount, options.now);
  return {
    log: new MemoryEventLog(options.now),
    pushes: new MemoryPushLog(options.pushesKept ?? PUSHES_KEPT),
    users: new MemoryUserStore(),
    snapshots: new MemorySnapshotStore(leases, shardCount),
    catalog: new MemoryCatalogStore(),
    identities: new MemoryIdentityStore(),
    leases,
    shardCount,
    mailbox: new MemoryShardMailbox(),
    sharedByNodes: options.sharedByNodes ?? false,
    close: async () => {},
  };
}
