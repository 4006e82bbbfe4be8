import { randomUUID } from 'node:crypto';

/**
 * The second cache layer, shared by every node: encoded values with their freshness, a
 * single-flight lock per key, and an invalidation bus. Two implementations: MemorySharedLayer
 * (one process: the embedded mode, and tests where several in-process nodes share one instance)
 * and RedisSharedLayer.
 *
 * Keys are opaque strings chosen by callers (SwrCache uses `<cache name>:<key>`). Times are
 * epoch milliseconds by the writer's clock: a layer shared by nodes assumes their clocks agree
 * to well within a value's fresh window.
 */
export interface SharedEntry {
  value: Uint8Array;
  /** When the writer stored it. */
  storedAt: number;
  /** Until then the value is fresh; after it, stale but readable until `staleUntil`. */
  freshUntil: number;
  /** When the layer forgets the entry: `storedAt + freshMs + staleMs`. */
  staleUntil: number;
}

/**
 * One message on the invalidation bus. Every subscriber of every node gets every message,
 * including the publisher's own subscribers (`origin` lets a publisher skip its own echo).
 */
export interface InvalidationMessage {
  /** Exact shared-layer keys whose values are no longer valid. */
  keys?: string[];
  /** Every shared-layer key starting with one of these is no longer valid (matched literally, not as a pattern). */
  prefixes?: string[];
  /**
   * Catalog item ids whose data changed (stock, price, availability). A cache cannot tell which
   * of its values mention an item, so SwrCache ignores these: they are for subscribers that keep
   * item-derived state, e.g. a layer that re-filters cached lists for out-of-stock items, or a
   * catalog copy held in memory.
   */
  items?: string[];
  /** An id of the publisher (e.g. one SwrCache instance), so it can recognise its own messages. */
  origin?: string;
}

export type InvalidationHandler = (message: InvalidationMessage) => void;

/** What getOrLock found, and the lock when it took one. */
export interface EntryAndLock {
  /** The entry, fresh or stale, or null (as get() would answer). */
  entry: SharedEntry | null;
  /**
   * The key's lock token when this call took it; null when the entry is fresh (no lock is tried)
   * or when another holder has it.
   */
  lock: string | null;
}

/**
 * What SwrCache needs of the shared layer. A key's entry and its single-flight lock are checked
 * and changed together, each in one round trip (one Lua script on Redis): getOrLock reads the
 * entry and takes the lock in one atomic step, and setAndUnlock stores a value and releases the
 * lock in one, so a node that takes a lock after another released it always sees the value the
 * other stored. Every operation but deletePrefix is one round trip.
 */
export interface SharedLayer {
  /** The entry, fresh or stale, or null once it is gone (after `staleUntil`) or was never set. */
  get(key: string): Promise<SharedEntry | null>;
  /**
   * Reads the entry and, when it is missing or no longer fresh (by the layer's clock), tries to
   * take the key's lock in the same atomic step: a fresh random token that expires after
   * `lockTtlMs`, or null while another holder has it. Never takes the lock for a fresh entry.
   */
  getOrLock(key: string, lockTtlMs: number): Promise<EntryAndLock>;
  /** Stores `value`, fresh for `freshMs` and readable (stale) for `staleMs` more; replaces any entry. */
  set(key: string, value: Uint8Array, freshMs: number, staleMs: number): Promise<void>;
  /**
   * As set(), and in the same atomic step releases the key's lock if `token` still holds it;
   * true when released. The value is stored in any case, even when the lock expired meanwhile
   * (and maybe another node took it): it was computed just now, so it is at least as recent as
   * whatever it replaces, and the next holder's value replaces it in turn.
   */
  setAndUnlock(key: string, value: Uint8Array, freshMs: number, staleMs: number, token: string): Promise<boolean>;
  delete(keys: readonly string[]): Promise<void>;
  /** Deletes every entry whose key starts with `prefix` (literally); returns how many. Locks are left alone. */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * Releases the lock only if `token` still holds it (not after it expired and another took it);
   * true when released. For a lock holder that has nothing to store (its computation failed).
   */
  unlock(key: string, token: string): Promise<boolean>;
  publishInvalidation(message: InvalidationMessage): Promise<void>;
  /** Delivers every message published from now on, on every node, until the returned function is called. */
  subscribeInvalidations(handler: InvalidationHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Fresh and stale windows as every implementation checks them: whole milliseconds, some lifetime. */
export function entryLifetime(freshMs: number, staleMs: number): number {
  if (!Number.isFinite(freshMs) || !Number.isFinite(staleMs) || freshMs < 0 || staleMs < 0 || freshMs + staleMs < 1) {
    throw new RangeError(`freshMs and staleMs must be non-negative and add up to at least 1 ms, got ${freshMs} and ${staleMs}`);
  }
  return Math.ceil(freshMs + staleMs);
}

export function lockLifetime(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < 1) throw new RangeError(`lock ttlMs must be at least 1 ms, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}

/** Keeps only well-formed fields: a message comes from the network, possibly from another version. */
export function parseInvalidation(payload: unknown): InvalidationMessage | null {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
  const record = payload as Record<string, unknown>;
  const message: InvalidationMessage = {};
  for (const field of ['keys', 'prefixes', 'items'] as const) {
    const value = record[field];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((entry): entry is string => typeof entry === 'string')) return null;
    message[field] = value;
  }
  if (record.origin !== undefined) {
    if (typeof record.origin !== 'string') return null;
    message.origin = record.origin;
  }
  return message;
}

/** Calls a handler without letting its exception reach the delivery machinery (an event emitter, a microtask). */
export function deliver(handler: InvalidationHandler, message: InvalidationMessage): void {
  try {
    handler(message);
  } catch {
    // A subscriber's bug must not stop delivery to the others.
  }
}

interface Lock {
  token: string;
  expiresAt: number;
}

/** Expired entries are dropped when read, and in a sweep every this many sets. */
const SWEEP_EVERY = 1024;

/**
 * One process's shared layer: several in-process nodes share one instance. Expiry is judged by
 * `now` (injectable for tests). Values are copied in and out, and messages are delivered
 * asynchronously (as a copy), as they would be over a network.
 */
export class MemorySharedLayer implements SharedLayer {
  private readonly entries = new Map<string, SharedEntry>();
  private readonly locks = new Map<string, Lock>();
  private readonly handlers = new Set<InvalidationHandler>();
  private setsSinceSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async get(key: string): Promise<SharedEntry | null> {
    const entry = this.live(key, this.now());
    return entry === null ? null : copyOf(entry);
  }

  async getOrLock(key: string, lockTtlMs: number): Promise<EntryAndLock> {
    const lifetime = lockLifetime(lockTtlMs);
    const now = this.now();
    const entry = this.live(key, now);
    if (entry !== null && now < entry.freshUntil) return { entry: copyOf(entry), lock: null };
    return { entry: entry === null ? null : copyOf(entry), lock: this.lock(key, lifetime, now) };
  }

  async set(key: string, value: Uint8Array, freshMs: number, staleMs: number): Promise<void> {
    this.store(key, value, freshMs, staleMs);
  }

  async setAndUnlock(key: string, value: Uint8Array, freshMs: number, staleMs: number, token: string): Promise<boolean> {
    this.store(key, value, freshMs, staleMs);
    return this.release(key, token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key);
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (!key.startsWith(prefix)) continue;
      this.entries.delete(key);
      if (now < entry.staleUntil) deleted++;
    }
    return deleted;
  }

  async unlock(key: string, token: string): Promise<boolean> {
    return this.release(key, token);
  }

  async publishInvalidation(message: InvalidationMessage): Promise<void> {
    for (const handler of this.handlers) {
      const copy = structuredClone(message);
      queueMicrotask(() => deliver(handler, copy));
    }
  }

  async subscribeInvalidations(handler: InvalidationHandler): Promise<() => Promise<void>> {
    // A wrapper per subscription, so one handler subscribed twice is two subscriptions.
    const subscription: InvalidationHandler = (message) => handler(message);
    this.handlers.add(subscription);
    return async () => {
      this.handlers.delete(subscription);
    };
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }

  /** The entry while it is readable; an expired one is dropped. */
  private live(key: string, now: number): SharedEntry | null {
    const entry = this.entries.get(key);
    if (entry === undefined) return null;
    if (now >= entry.staleUntil) {
      this.entries.delete(key);
      return null;
    }
    return entry;
  }

  /** Validates before it changes anything, as a network store would refuse a bad command whole. */
  private store(key: string, value: Uint8Array, freshMs: number, staleMs: number): void {
    const lifetime = entryLifetime(freshMs, staleMs);
    const storedAt = this.now();
    this.entries.set(key, { value: value.slice(), storedAt, freshUntil: storedAt + freshMs, staleUntil: storedAt + lifetime });
    if (++this.setsSinceSweep >= SWEEP_EVERY) this.sweep();
  }

  private lock(key: string, lifetime: number, now: number): string | null {
    const held = this.locks.get(key);
    if (held !== undefined && now < held.expiresAt) return null;
    const token = randomUUID();
    this.locks.set(key, { token, expiresAt: now + lifetime });
    return token;
  }

  private release(key: string, token: string): boolean {
    const held = this.locks.get(key);
    if (held === undefined || held.token !== token || this.now() >= held.expiresAt) return false;
    this.locks.delete(key);
    return true;
  }

  private sweep(): void {
    this.setsSinceSweep = 0;
    const now = this.now();
    for (const [key, entry] of this.entries) if (now >= entry.staleUntil) this.entries.delete(key);
    for (const [key, lock] of this.locks) if (now >= lock.expiresAt) this.locks.delete(key);
  }
}

function copyOf(entry: SharedEntry): SharedEntry {
  return { ...entry, value: entry.value.slice() };
}
