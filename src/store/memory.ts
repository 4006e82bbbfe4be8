import { randomBytes } from 'node:crypto';
import type { LogEntry, NewLogEntry } from '../session/events.js';
import { MemoryShardMailbox } from './mailbox.js';
import { MemoryLeaseStore } from './memory-leases.js';
import { MemoryModelRegistry } from './models.js';
import { DEFAULT_SHARD_COUNT, assertFenceShard, assertShardCount } from './shard.js';
import {
  compareEventIds,
  DELETION_JOB_TTL_MS,
  FencedError,
  type AppendedAfter,
  type AppendedOnce,
  type ApiKeyRecord,
  type ApiKeyStore,
  type AuditEntry,
  type AuditLog,
  type BusMessage,
  type ConsentStore,
  type DeletionJob,
  type DeletionJobStore,
  type Fence,
  type NodeBus,
  type CatalogItem,
  type CatalogItemUpdate,
  type CatalogStore,
  type EventLog,
  type FilterStore,
  type PeerDirectory,
  type IdentityStore,
  type PushLog,
  type PushRecord,
  type UserAttributes,
  type UserStore,
  type SnapshotStore,
  type StoredFilter,
  type StoredSnapshot,
  type Stores,
} from './types.js';

/**
 * Single-node stores: the embedded default. Same contracts as the Redis ones. They hold objects
 * in the process and nothing at rest, so they encrypt nothing (encryption at rest is the Redis
 * stores' `cipher`).
 */
export class MemoryEventLog implements EventLog {
  private readonly logs = new Map<string, LogEntry[]>();
  private readonly lastId = new Map<string, { ms: number; seq: number }>();
  /** Per key: client event id -> the entry's id and when the id may be reused. */
  private readonly seen = new Map<string, Map<string, { eventId: string; until: number }>>();
  /** The same ids in the order they were noted, so expired ones are dropped without a scan. */
  private readonly seenOrder: Array<{ key: string; clientEventId: string; until: number }> = [];
  /** seenOrder before this index is expired and handled; cut off in bulk, not per append. */
  private seenHead = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async appendOnce(key: string, entry: NewLogEntry, clientEventId: string, windowMs: number, previousId?: string | null): Promise<AppendedOnce> {
    const now = this.now();
    this.forgetExpired(now);
    const earlier = this.seen.get(key)?.get(clientEventId);
    if (earlier !== undefined && earlier.until > now) return { eventId: earlier.eventId, duplicate: true, follows: false };
    const follows = previousId !== undefined && this.newestId(key) === previousId;
    // No await between the check and the append: concurrent resends store one entry.
    const { eventId } = this.store(key, entry);
    const until = now + windowMs;
    const ofKey = this.seen.get(key) ?? new Map<string, { eventId: string; until: number }>();
    ofKey.set(clientEventId, { eventId, until });
    this.seen.set(key, ofKey);
    this.seenOrder.push({ key, clientEventId, until });
    return { eventId, duplicate: false, follows };
  }

  async append(key: string, entry: NewLogEntry): Promise<LogEntry> {
    return this.store(key, entry);
  }

  async appendAfter(key: string, entry: NewLogEntry, previousId: string | null): Promise<AppendedAfter> {
    const follows = this.newestId(key) === previousId;
    return { entry: this.store(key, entry), follows };
  }

  private newestId(key: string): string | null {
    return this.logs.get(key)?.at(-1)?.eventId ?? null;
  }

  private store(key: string, entry: NewLogEntry): LogEntry {
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

  async delete(key: string): Promise<void> {
    this.logs.delete(key);
    this.lastId.delete(key);
    this.seen.delete(key);
  }

  private forgetExpired(now: number): void {
    while (this.seenHead < this.seenOrder.length && this.seenOrder[this.seenHead].until <= now) {
      const { key, clientEventId, until } = this.seenOrder[this.seenHead++];
      const ofKey = this.seen.get(key);
      // A later note of the same id (after this one expired) keeps its own time.
      if (ofKey?.get(clientEventId)?.until !== until) continue;
      ofKey.delete(clientEventId);
      if (ofKey.size === 0) this.seen.delete(key);
    }
    if (this.seenHead > 1024 && this.seenHead * 2 > this.seenOrder.length) {
      this.seenOrder.splice(0, this.seenHead);
      this.seenHead = 0;
    }
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

  async delete(key: string): Promise<void> {
    this.pushes.delete(key);
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

  async delete(userId: string): Promise<void> {
    this.profiles.delete(userId);
  }
}

export class MemoryIdentityStore implements IdentityStore {
  private readonly users = new Map<string, string>();
  /** The reverse index: each user's sessions. A relinked session stays listed under its earlier user too. */
  private readonly sessions = new Map<string, Set<string>>();

  async userOf(sessionId: string): Promise<string | null> {
    return this.users.get(sessionId) ?? null;
  }

  async link(sessionId: string, userId: string): Promise<void> {
    this.sessions.set(userId, (this.sessions.get(userId) ?? new Set()).add(sessionId));
    this.users.set(sessionId, userId);
  }

  async sessionsOf(userId: string): Promise<string[]> {
    return [...(this.sessions.get(userId) ?? [])].sort();
  }

  /** Every session listed for the user, including one since relinked to another user, whose link stays. */
  async unlinkUser(userId: string): Promise<string[]> {
    const sessions = await this.sessionsOf(userId);
    for (const sessionId of sessions) if (this.users.get(sessionId) === userId) this.users.delete(sessionId);
    this.sessions.delete(userId);
    return sessions;
  }
}

/** Oldest first; keys created in the same millisecond by id. */
export function byCreation(a: ApiKeyRecord, b: ApiKeyRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export class MemoryApiKeyStore implements ApiKeyStore {
  private readonly records = new Map<string, ApiKeyRecord>();

  async create(record: ApiKeyRecord): Promise<void> {
    if (this.records.has(record.id)) throw new Error(`api key ${record.id} exists`);
    this.records.set(record.id, structuredClone(record));
  }

  async get(id: string): Promise<ApiKeyRecord | null> {
    const record = this.records.get(id);
    return record === undefined ? null : structuredClone(record);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return structuredClone([...this.records.values()]).sort(byCreation);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const record = this.records.get(id);
    if (record === undefined || record.revokedAt !== null) return false;
    record.revokedAt = at;
    return true;
  }
}

/** Oldest first; filters created in the same millisecond by name. */
export function byFilterCreation(a: StoredFilter, b: StoredFilter): number {
  return a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export class MemoryFilterStore implements FilterStore {
  private readonly filters = new Map<string, StoredFilter>();

  async create(filter: StoredFilter): Promise<void> {
    if (this.filters.has(filter.name)) throw new Error(`filter ${filter.name} exists`);
    const { name, filterExpression, createdAt } = filter;
    this.filters.set(name, { name, filterExpression, createdAt });
  }

  async get(name: string): Promise<StoredFilter | null> {
    const filter = this.filters.get(name);
    return filter === undefined ? null : { ...filter };
  }

  async list(): Promise<StoredFilter[]> {
    return [...this.filters.values()].map((filter) => ({ ...filter })).sort(byFilterCreation);
  }

  async delete(name: string): Promise<boolean> {
    return this.filters.delete(name);
  }
}

/** Audit entries kept (memory and Redis alike; Redis trims approximately). */
export const AUDIT_KEPT = 100_000;

export class MemoryAuditLog implements AuditLog {
  private readonly entries: Array<AuditEntry & { id: string }> = [];
  private last = { ms: 0, seq: 0 };

  constructor(
    private readonly now: () => number = Date.now,
    private readonly kept = AUDIT_KEPT,
  ) {}

  async record(entry: AuditEntry): Promise<string> {
    const now = this.now();
    this.last = this.last.ms >= now ? { ms: this.last.ms, seq: this.last.seq + 1 } : { ms: now, seq: 0 };
    const id = `${this.last.ms}-${this.last.seq}`;
    this.entries.push({ ...structuredClone(entry), id });
    if (this.entries.length > this.kept) this.entries.splice(0, this.entries.length - this.kept);
    return id;
  }

  async read(options: { limit: number; before?: string }): Promise<Array<AuditEntry & { id: string }>> {
    assertLimit(options.limit);
    const found: Array<AuditEntry & { id: string }> = [];
    for (let i = this.entries.length - 1; i >= 0 && found.length < options.limit; i--) {
      const entry = this.entries[i];
      if (options.before === undefined || compareEventIds(entry.id, options.before) < 0) found.push(structuredClone(entry));
    }
    return found;
  }
}

export function assertLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
}

export class MemoryConsentStore implements ConsentStore {
  private readonly optedOut = new Set<string>();

  async setOptedOut(userId: string, optedOut: boolean): Promise<void> {
    if (optedOut) this.optedOut.add(userId);
    else this.optedOut.delete(userId);
  }

  async isOptedOut(userId: string): Promise<boolean> {
    return this.optedOut.has(userId);
  }

  async delete(userId: string): Promise<void> {
    this.optedOut.delete(userId);
  }
}

/**
 * Delivers to every subscriber of this instance, asynchronously (as Redis does), each a copy.
 * Several in-process nodes sharing one memory Stores object share its bus.
 */
export class MemoryNodeBus implements NodeBus {
  private readonly handlers = new Set<(message: BusMessage) => void>();

  async publish(message: BusMessage): Promise<void> {
    for (const handler of this.handlers) {
      const copy = structuredClone(message);
      queueMicrotask(() => {
        // Unsubscribed since the publish: it gets nothing more.
        if (this.handlers.has(handler)) handler(copy);
      });
    }
  }

  async subscribe(handler: (message: BusMessage) => void): Promise<() => Promise<void>> {
    // A wrapper per subscription, so one handler subscribed twice is two subscriptions.
    const subscription = (message: BusMessage): void => handler(message);
    this.handlers.add(subscription);
    return async () => {
      this.handlers.delete(subscription);
    };
  }
}

export class MemoryDeletionJobStore implements DeletionJobStore {
  private readonly jobs = new Map<string, { job: DeletionJob; expiresAt: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly ttlMs = DELETION_JOB_TTL_MS,
  ) {}

  async put(job: DeletionJob): Promise<void> {
    const now = this.now();
    for (const [id, kept] of this.jobs) if (kept.expiresAt <= now) this.jobs.delete(id);
    this.jobs.set(job.id, { job: structuredClone(job), expiresAt: now + this.ttlMs });
  }

  async get(id: string): Promise<DeletionJob | null> {
    const kept = this.jobs.get(id);
    if (kept === undefined || kept.expiresAt <= this.now()) return null;
    return structuredClone(kept.job);
  }
}

/** Nodes of one process share it, as they share the other memory stores. */
export class MemoryPeerDirectory implements PeerDirectory {
  private readonly urls = new Map<string, string>();
  private readonly peerSecret = randomBytes(32).toString('base64url');

  async announce(nodeId: string, url: string): Promise<void> {
    this.urls.set(nodeId, url);
  }

  async urlOf(nodeId: string): Promise<string | null> {
    return this.urls.get(nodeId) ?? null;
  }

  async withdraw(nodeId: string): Promise<void> {
    this.urls.delete(nodeId);
  }

  async secret(): Promise<string> {
    return this.peerSecret;
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
  const bus = new MemoryNodeBus();
  return {
    log: new MemoryEventLog(options.now),
    pushes: new MemoryPushLog(options.pushesKept ?? PUSHES_KEPT),
    users: new MemoryUserStore(),
    snapshots: new MemorySnapshotStore(leases, shardCount),
    apiKeys: new MemoryApiKeyStore(),
    audit: new MemoryAuditLog(options.now),
    consent: new MemoryConsentStore(),
    bus,
    deletionJobs: new MemoryDeletionJobStore(options.now),
    filters: new MemoryFilterStore(),
    catalog: new MemoryCatalogStore(),
    identities: new MemoryIdentityStore(),
    leases,
    shardCount,
    mailbox: new MemoryShardMailbox(),
    peers: new MemoryPeerDirectory(),
    models: new MemoryModelRegistry(),
    sharedByNodes: options.sharedByNodes ?? false,
    unavailableReason: () => null,
    close: async () => {},
  };
}
