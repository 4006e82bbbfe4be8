import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { Packr } from 'msgpackr';
import type { InvalidationMessage, SharedLayer } from './shared-layer.js';

/** Where a get() found its value. */
export type CacheSource = 'local' | 'shared' | 'computed' | 'stale' | 'fallback';

export interface CacheResult<T> {
  value: T;
  source: CacheSource;
}

/**
 * Why a get() answered with the caller's fallback: `compute-error` the computation failed with
 * the shared layer up and no stale value anywhere; `shared-unavailable` the shared layer failed
 * (Redis down) and the computation this node then ran alone failed too.
 */
export type FallbackReason = 'compute-error' | 'shared-unavailable';

/**
 * What a cache counts, for prom-client counters. Every get() counts exactly one lookup outcome:
 * hit('local'), hit('shared'), staleHit() or miss() (nothing usable in either layer when it
 * asked; it then waited for a computation, its node's or another node's). A get() answered with
 * its fallback also counts fallback(reason). refresh() counts computations that ran (cold loads
 * and background refreshes alike), lockWait() each time a node's load waited for another
 * node's computation.
 */
export interface CacheCounters {
  hit(layer: 'local' | 'shared'): void;
  staleHit(): void;
  miss(): void;
  refresh(): void;
  lockWait(): void;
  fallback(reason: FallbackReason): void;
}

/**
 * Where a failure happened: `shared-get` the read that also takes the lock (getOrLock),
 * `shared-set` a write (set, or setAndUnlock by the lock holder), `unlock` a lock holder's
 * release after a failed computation.
 */
export interface CacheErrorContext {
  cache: string;
  key: string;
  operation: 'shared-get' | 'shared-set' | 'unlock' | 'compute' | 'encode' | 'decode';
}

export interface SwrCacheOptions<T> {
  /** Names the kind of value ('popular', 'related', ...); shared-layer keys are `<name>:<key>`. No ':' in it. */
  name: string;
  layer: SharedLayer;
  /** Most entries this node keeps in memory (least recently used go first). */
  l1Max: number;
  /** How long a computed value is fresh: served without a refresh. */
  freshMs: number;
  /** How long after that it is still served (stale) while one refresh runs. */
  staleMs: number;
  /**
   * How long the single-flight lock is held at most; longer than the slowest computation, or a
   * second node may compute while the first is still at it.
   */
  lockTtlMs: number;
  /** How long a node with nothing cached waits for another node's computation before computing itself. */
  lockWaitMs: number;
  /** First poll interval of that wait; each next one is twice as long, up to pollMaxMs. Default 10 ms. */
  pollMs?: number;
  /** Longest poll interval of that wait. Default 100 ms. */
  pollMaxMs?: number;
  /** Default: msgpack (plain maps and arrays, so any node and version decodes it). */
  encode?: (value: T) => Uint8Array;
  decode?: (bytes: Uint8Array) => T;
  counters?: CacheCounters;
  /** Every failure the cache absorbed (it never throws from get()). Must not throw. */
  onError: (err: unknown, context: CacheErrorContext) => void;
  /** The clock freshness is judged by (epoch ms); the same clock as the shared layer's. Default Date.now. */
  now?: () => number;
}

interface LocalEntry<T> {
  value: T;
  freshUntil: number;
  staleUntil: number;
}

type Outcome<T> =
  | { kind: 'value'; value: T; source: 'shared' | 'computed' | 'stale'; found: Found }
  | { kind: 'fallback'; reason: FallbackReason; found: Found };

/** What the lookup found in the shared layer, before any waiting or computing. */
type Found = 'shared' | 'stale' | 'none';

/** One node's in-flight load or refresh of a key. An invalidation marks it so its result is not cached. */
interface Flight {
  invalidated: boolean;
}

interface InFlight<R> {
  flight: Flight;
  promise: Promise<R>;
}

type Shared<R> = { ok: true; value: R } | { ok: false };

/** What one getOrLock found, decoded. */
interface Lookup<T> {
  /** Null when there is none, it is past its stale window by this node's clock, or it could not be decoded. */
  entry: LocalEntry<T> | null;
  /** The key's lock, when this lookup took it (the entry was missing or stale, and the lock free). */
  lock: string | null;
  /** The layer had an entry this node could not decode. */
  undecodable: boolean;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

const noCounters: CacheCounters = {
  hit() {},
  staleHit() {},
  miss() {},
  refresh() {},
  lockWait() {},
  fallback() {},
};

/**
 * A two-layer stale-while-revalidate cache for one kind of value: an in-memory LRU per node
 * (L1) in front of a SharedLayer (L2), with single-flight computation across nodes.
 *
 * Every look at L2 is one getOrLock: it reads the entry and, when the entry is missing or stale,
 * tries to take the key's lock in the same atomic step. A lock holder stores its value and
 * releases the lock in one step too (setAndUnlock). So a miss or a refresh costs two shared-layer
 * round trips around the computation, and since a node that takes the lock has seen the entry as
 * it was when the previous holder released, one expiry of a key is computed once in all.
 *
 * get(key, compute, fallback):
 * - fresh in L1: served, no shared-layer call.
 * - stale in L1 (past fresh, within stale): served at once; one background refresh per node.
 * - not in L1: concurrent gets of the key on this node share one load, which does getOrLock:
 *   fresh is served and kept in L1 (one call); stale is served and kept, and refreshed in the
 *   background if the lookup took the lock (otherwise another node is refreshing it); nothing:
 *   with the lock, the node computes and setAndUnlocks; without it, it polls with getOrLock
 *   (pollMs apart, then twice as long each time up to pollMaxMs: 10, 20, 40, 80, 100, 100 ... ms
 *   by default) for up to lockWaitMs, adopting the holder's value or taking the lock over if it
 *   is released without one (the holder's computation failed) or expires (its node died); after
 *   lockWaitMs it computes alone and writes L2 with set.
 * - a refresh does getOrLock: a fresh entry (another node refreshed it) is adopted without
 *   computing; with the lock it computes and setAndUnlocks; without it this node keeps serving
 *   stale.
 * - failures never reach the caller: a failing shared layer (Redis down) leaves each node on its
 *   own L1, computing without a lock (still one load per key per node); a failing computation
 *   releases the lock (unlock) and serves a stale value if there is one and the caller's
 *   fallback() otherwise. An L2 entry this node cannot decode is recomputed and overwritten. Each
 *   failure goes to onError.
 *
 * Coalesced gets share the first caller's compute; each caller gets its own fallback(), which
 * must not throw.
 *
 * Entries are judged by their own fresh and stale times, so a value taken from L2 is fresh in L1
 * only as long as it is in L2 (filling L1 does not extend it).
 */
export class SwrCache<T> {
  readonly name: string;
  /** Marks this instance's messages on the bus, so it skips its own echo. */
  readonly id = randomUUID();
  private readonly layer: SharedLayer;
  private readonly local: LRUCache<string, LocalEntry<T>>;
  private readonly loading = new Map<string, InFlight<Outcome<T>>>();
  private readonly refreshing = new Map<string, InFlight<void>>();
  private readonly freshMs: number;
  private readonly staleMs: number;
  private readonly lockTtlMs: number;
  private readonly lockWaitMs: number;
  private readonly pollMs: number;
  private readonly pollMaxMs: number;
  private readonly encode: (value: T) => Uint8Array;
  private readonly decode: (bytes: Uint8Array) => T;
  private readonly counters: CacheCounters;
  private readonly onError: (err: unknown, context: CacheErrorContext) => void;
  private readonly now: () => number;
  private listening: Promise<() => Promise<void>> | null = null;

  constructor(options: SwrCacheOptions<T>) {
    if (options.name === '' || options.name.includes(':')) throw new RangeError(`cache name must be non-empty and free of ':', got "${options.name}"`);
    if (!Number.isInteger(options.l1Max) || options.l1Max < 1) throw new RangeError(`l1Max must be a positive integer, got ${options.l1Max}`);
    for (const field of ['freshMs', 'staleMs', 'lockTtlMs', 'lockWaitMs'] as const) {
      if (!Number.isFinite(options[field]) || options[field] < 0) throw new RangeError(`${field} must be a non-negative number, got ${options[field]}`);
    }
    if (options.freshMs + options.staleMs < 1) throw new RangeError('freshMs + staleMs must be at least 1 ms');
    if (options.lockTtlMs < 1) throw new RangeError(`lockTtlMs must be at least 1 ms, got ${options.lockTtlMs}`);
    this.name = options.name;
    this.layer = options.layer;
    this.local = new LRUCache<string, LocalEntry<T>>({ max: options.l1Max });
    this.freshMs = options.freshMs;
    this.staleMs = options.staleMs;
    this.lockTtlMs = options.lockTtlMs;
    this.lockWaitMs = options.lockWaitMs;
    this.pollMs = options.pollMs ?? 10;
    this.pollMaxMs = Math.max(this.pollMs, options.pollMaxMs ?? 100);
    for (const [field, value] of [['pollMs', this.pollMs], ['pollMaxMs', this.pollMaxMs]] as const) {
      if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${field} must be a positive number, got ${value}`);
    }
    this.encode = options.encode ?? ((value) => packr.pack(value));
    this.decode = options.decode ?? ((bytes) => packr.unpack(bytes) as T);
    this.counters = options.counters ?? noCounters;
    this.onError = options.onError;
    this.now = options.now ?? Date.now;
  }

  async get(key: string, compute: () => Promise<T>, fallback: () => T): Promise<CacheResult<T>> {
    const cached = this.local.get(key);
    if (cached !== undefined) {
      const now = this.now();
      if (now < cached.freshUntil) {
        this.counters.hit('local');
        return { value: cached.value, source: 'local' };
      }
      if (now < cached.staleUntil) {
        this.counters.staleHit();
        this.refresh(key, compute);
        return { value: cached.value, source: 'stale' };
      }
      this.local.delete(key);
    }
    let load = this.loading.get(key);
    if (load === undefined) {
      const flight: Flight = { invalidated: false };
      const started: InFlight<Outcome<T>> = {
        flight,
        promise: this.load(key, compute, flight).finally(() => {
          if (this.loading.get(key) === started) this.loading.delete(key);
        }),
      };
      this.loading.set(key, started);
      load = started;
    }
    const outcome = await load.promise;
    if (outcome.found === 'shared') this.counters.hit('shared');
    else if (outcome.found === 'stale') this.counters.staleHit();
    else this.counters.miss();
    if (outcome.kind === 'value') return { value: outcome.value, source: outcome.source };
    this.counters.fallback(outcome.reason);
    return { value: fallback(), source: 'fallback' };
  }

  /**
   * Drops the keys here and from the shared layer, then tells the other nodes (see listen()).
   * The local drop always happens; the promise rejects (StoreUnavailableError) when the shared
   * layer could not be told, and then other nodes keep their copies until they go stale.
   */
  async invalidate(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    for (const key of keys) this.dropLocal(key);
    const shared = keys.map((key) => this.sharedKey(key));
    await this.layer.delete(shared);
    await this.layer.publishInvalidation({ keys: shared, origin: this.id });
  }

  /** As invalidate(), for every key starting with `prefix` (literally). */
  async invalidatePrefix(prefix: string): Promise<void> {
    this.dropLocalPrefix(prefix);
    const shared = this.sharedKey(prefix);
    await this.layer.deletePrefix(shared);
    await this.layer.publishInvalidation({ prefixes: [shared], origin: this.id });
  }

  /**
   * Subscribes to the invalidation bus: other nodes' invalidations of this cache's keys (a
   * message's keys and prefixes under `<name>:`, or a prefix that covers every name) drop them
   * from this node's L1. `items` messages are not for this cache and are ignored.
   */
  async listen(): Promise<void> {
    this.listening ??= this.layer.subscribeInvalidations((message) => this.onInvalidation(message));
    try {
      await this.listening;
    } catch (err) {
      this.listening = null;
      throw err;
    }
  }

  /** Whether this node holds the key in memory (fresh or stale); for tests and diagnostics. */
  hasLocal(key: string): boolean {
    return this.local.has(key, { updateAgeOnHas: false });
  }

  /** Stops listening and waits for this node's loads and refreshes; does not close the shared layer. */
  async close(): Promise<void> {
    const listening = this.listening;
    this.listening = null;
    await listening?.then((unsubscribe) => unsubscribe()).catch(() => undefined);
    await Promise.allSettled([...this.loading.values(), ...this.refreshing.values()].map((flight) => flight.promise));
    this.local.clear();
  }

  private sharedKey(key: string): string {
    return `${this.name}:${key}`;
  }

  /**
   * An L1 miss: one getOrLock. Fresh is served; stale is served and, when the lookup took the
   * lock, refreshed in the background; nothing is computed under the lock, or waited for.
   */
  private async load(key: string, compute: () => Promise<T>, flight: Flight): Promise<Outcome<T>> {
    const found = await this.lookup(key);
    if (!found.ok) return this.computeAlone(key, compute, flight, 'none', true);
    const { entry, lock, undecodable } = found.value;
    if (entry !== null) return this.serve(key, entry, lock, compute, flight, entry.freshUntil > this.now() ? 'shared' : 'stale');
    if (lock !== null) return this.underLock(key, compute, flight, lock, null);
    if (undecodable) return this.computeAlone(key, compute, flight, 'none', false);
    return this.waitForHolder(key, compute, flight);
  }

  /**
   * Nothing in L2 and another node holds the lock: poll with getOrLock, at growing intervals, for
   * its value; take the lock over if it is released without one or expires; compute alone after
   * lockWaitMs.
   */
  private async waitForHolder(key: string, compute: () => Promise<T>, flight: Flight): Promise<Outcome<T>> {
    this.counters.lockWait();
    const started = performance.now();
    for (let delay = this.pollMs; ; delay = Math.min(delay * 2, this.pollMaxMs)) {
      const left = this.lockWaitMs - (performance.now() - started);
      if (left <= 0) break;
      await sleep(Math.min(delay, left));
      const found = await this.lookup(key);
      if (!found.ok) return this.computeAlone(key, compute, flight, 'none', true);
      const { entry, lock, undecodable } = found.value;
      if (entry !== null) return this.serve(key, entry, lock, compute, flight, 'none');
      // Released without a value (its computation failed) or expired (its node died): taken over.
      if (lock !== null) return this.underLock(key, compute, flight, lock, null);
      if (undecodable) return this.computeAlone(key, compute, flight, 'none', false);
    }
    return this.computeAlone(key, compute, flight, 'none', false);
  }

  /**
   * Holding the lock, taken by the getOrLock that found `stale` (or nothing): compute, then store
   * and release in one step. A failed computation (or one invalidated meanwhile, or whose value
   * cannot be encoded) just releases the lock; a failed one serves `stale` if there was one.
   */
  private async underLock(key: string, compute: () => Promise<T>, flight: Flight, token: string, stale: LocalEntry<T> | null): Promise<Outcome<T>> {
    let held = true;
    try {
      const computed = await this.runCompute(key, compute);
      if (!computed.ok) {
        if (stale === null) return { kind: 'fallback', reason: 'compute-error', found: 'none' };
        this.fillLocal(key, stale, flight);
        return { kind: 'value', value: stale.value, source: 'stale', found: 'none' };
      }
      this.keepLocal(key, computed.value, flight);
      const bytes = this.encodeFor(key, computed.value, flight);
      if (bytes !== null) {
        // Failed or not, it is not retried as an unlock: with the layer down that would fail too, and the lock expires anyway.
        held = false;
        await this.shared(key, 'shared-set', () => this.layer.setAndUnlock(this.sharedKey(key), bytes, this.freshMs, this.staleMs, token));
      }
      return { kind: 'value', value: computed.value, source: 'computed', found: 'none' };
    } finally {
      if (held) await this.release(key, token);
    }
  }

  /** Without the lock: the shared layer failed, the lock holder took longer than lockWaitMs, or L2's entry is undecodable here. */
  private async computeAlone(key: string, compute: () => Promise<T>, flight: Flight, found: Found, sharedDown: boolean): Promise<Outcome<T>> {
    const computed = await this.runCompute(key, compute);
    if (!computed.ok) return { kind: 'fallback', reason: sharedDown ? 'shared-unavailable' : 'compute-error', found };
    this.keepLocal(key, computed.value, flight);
    const bytes = sharedDown ? null : this.encodeFor(key, computed.value, flight);
    if (bytes !== null) await this.shared(key, 'shared-set', () => this.layer.set(this.sharedKey(key), bytes, this.freshMs, this.staleMs));
    return { kind: 'value', value: computed.value, source: 'computed', found };
  }

  /**
   * Serves an L2 entry and keeps it in L1. A stale one is refreshed in the background when its
   * lookup took the lock; without the lock, another node is refreshing it.
   */
  private serve(key: string, entry: LocalEntry<T>, lock: string | null, compute: () => Promise<T>, flight: Flight, found: Found): Outcome<T> {
    this.fillLocal(key, entry, flight);
    if (entry.freshUntil > this.now()) {
      // Stale by the layer's clock, fresh by this node's: the clocks differ, and there is nothing to refresh yet.
      if (lock !== null) void this.release(key, lock);
      return { kind: 'value', value: entry.value, source: 'shared', found };
    }
    if (lock !== null) this.refresh(key, compute, { lock, stale: entry });
    return { kind: 'value', value: entry.value, source: 'stale', found };
  }

  /**
   * One background refresh of a key per node at a time; it never rejects. `held`: the lock,
   * already taken by the lookup that found the stale entry; released if a refresh is running.
   */
  private refresh(key: string, compute: () => Promise<T>, held?: { lock: string; stale: LocalEntry<T> }): void {
    if (this.refreshing.has(key)) {
      if (held !== undefined) void this.release(key, held.lock);
      return;
    }
    const flight: Flight = { invalidated: false };
    const started: InFlight<void> = {
      flight,
      promise: this.runRefresh(key, compute, flight, held)
        .catch(() => undefined)
        .finally(() => {
          if (this.refreshing.get(key) === started) this.refreshing.delete(key);
        }),
    };
    this.refreshing.set(key, started);
  }

  private async runRefresh(key: string, compute: () => Promise<T>, flight: Flight, held?: { lock: string; stale: LocalEntry<T> }): Promise<void> {
    if (held !== undefined) {
      await this.underLock(key, compute, flight, held.lock, held.stale);
      return;
    }
    const found = await this.lookup(key);
    if (!found.ok) {
      await this.computeAlone(key, compute, flight, 'none', true);
      return;
    }
    const { entry, lock, undecodable } = found.value;
    if (entry !== null && entry.freshUntil > this.now()) {
      // Another node refreshed it: adopted, no computation.
      this.serve(key, entry, lock, compute, flight, 'shared');
      return;
    }
    if (lock !== null) await this.underLock(key, compute, flight, lock, entry);
    else if (undecodable) await this.computeAlone(key, compute, flight, 'none', false);
    // Otherwise another node is refreshing it: keep serving stale; a later get adopts its value.
  }

  /**
   * getOrLock, decoded. An undecodable entry counts as none (it is recomputed and overwritten);
   * so does one past its stale window by this node's clock that the layer still returned.
   */
  private async lookup(key: string): Promise<Shared<Lookup<T>>> {
    const read = await this.shared(key, 'shared-get', () => this.layer.getOrLock(this.sharedKey(key), this.lockTtlMs));
    if (!read.ok) return read;
    const { entry, lock } = read.value;
    if (entry === null || entry.staleUntil <= this.now()) return { ok: true, value: { entry: null, lock, undecodable: false } };
    try {
      return { ok: true, value: { entry: { value: this.decode(entry.value), freshUntil: entry.freshUntil, staleUntil: entry.staleUntil }, lock, undecodable: false } };
    } catch (err) {
      this.report(err, key, 'decode');
      return { ok: true, value: { entry: null, lock, undecodable: true } };
    }
  }

  /** Releases a lock this node holds and has nothing to store under; never rejects. */
  private async release(key: string, token: string): Promise<void> {
    await this.shared(key, 'unlock', () => this.layer.unlock(this.sharedKey(key), token));
  }

  private async runCompute(key: string, compute: () => Promise<T>): Promise<Shared<T>> {
    this.counters.refresh();
    try {
      return { ok: true, value: await compute() };
    } catch (err) {
      this.report(err, key, 'compute');
      return { ok: false };
    }
  }

  /** A computed value into L1, fresh from now; not kept if invalidated meanwhile. */
  private keepLocal(key: string, value: T, flight: Flight): void {
    const now = this.now();
    this.fillLocal(key, { value, freshUntil: now + this.freshMs, staleUntil: now + this.freshMs + this.staleMs }, flight);
  }

  /** A computed value's bytes for L2; null when it was invalidated meanwhile (not cached) or cannot be encoded. */
  private encodeFor(key: string, value: T, flight: Flight): Uint8Array | null {
    if (flight.invalidated) return null;
    try {
      return this.encode(value);
    } catch (err) {
      this.report(err, key, 'encode');
      return null;
    }
  }

  private fillLocal(key: string, entry: LocalEntry<T>, flight: Flight): void {
    if (flight.invalidated || entry.staleUntil <= this.now()) return;
    this.local.set(key, { value: entry.value, freshUntil: entry.freshUntil, staleUntil: entry.staleUntil });
  }

  private async shared<R>(key: string, operation: CacheErrorContext['operation'], run: () => Promise<R>): Promise<Shared<R>> {
    try {
      return { ok: true, value: await run() };
    } catch (err) {
      this.report(err, key, operation);
      return { ok: false };
    }
  }

  private report(err: unknown, key: string, operation: CacheErrorContext['operation']): void {
    try {
      this.onError(err, { cache: this.name, key, operation });
    } catch {
      // A failing reporter must not turn an absorbed failure into a thrown one.
    }
  }

  private onInvalidation(message: InvalidationMessage): void {
    if (message.origin === this.id) return;
    const namespace = `${this.name}:`;
    for (const key of message.keys ?? []) if (key.startsWith(namespace)) this.dropLocal(key.slice(namespace.length));
    for (const prefix of message.prefixes ?? []) {
      if (prefix.startsWith(namespace)) this.dropLocalPrefix(prefix.slice(namespace.length));
      else if (namespace.startsWith(prefix)) this.dropLocalPrefix('');
    }
  }

  /** Forgets the key here, and keeps in-flight work that started before from caching its result. */
  private dropLocal(key: string): void {
    this.local.delete(key);
    for (const flights of [this.loading, this.refreshing]) {
      const running = flights.get(key);
      if (running === undefined) continue;
      running.flight.invalidated = true;
      flights.delete(key);
    }
  }

  private dropLocalPrefix(prefix: string): void {
    const keys = new Set<string>();
    for (const key of this.local.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.loading.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.refreshing.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of keys) this.dropLocal(key);
  }
}
