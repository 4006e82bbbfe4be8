import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { Packr } from 'msgpackr';
import type { InvalidationMessage, SharedEntry, SharedLayer } from './shared-layer.js';

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

export interface CacheErrorContext {
  cache: string;
  key: string;
  operation: 'shared-get' | 'shared-set' | 'lock' | 'unlock' | 'compute' | 'encode' | 'decode';
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
  /** Poll interval of that wait. Default 15 ms. */
  pollMs?: number;
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
 * get(key, compute, fallback):
 * - fresh in L1: served.
 * - stale in L1 (past fresh, within stale): served at once; one background refresh per node.
 * - not in L1: concurrent gets of the key on this node share one load, which reads L2: fresh is
 *   served and kept in L1; stale is served, kept, and refreshed in the background; nothing: the
 *   node that takes the key's lock computes and writes L2, the others poll L2 for up to
 *   lockWaitMs (taking the lock themselves if it is released without a value), then compute.
 * - a refresh re-reads L2 (another node may have refreshed it: adopted, no computation), then
 *   takes the lock; if another node holds it, this node keeps serving stale. Whoever takes the
 *   lock reads L2 once more before computing, so one expiry of a key is computed once in all.
 * - failures never reach the caller: a failing shared layer (Redis down) leaves each node on its
 *   own L1, computing without a lock (still one load per key per node); a failing computation
 *   serves a stale value if there is one and the caller's fallback() otherwise. Each failure
 *   goes to onError.
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
    this.pollMs = options.pollMs ?? 15;
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

  /** An L1 miss: read L2; fresh or stale there is served, nothing there is computed once across nodes. */
  private async load(key: string, compute: () => Promise<T>, flight: Flight): Promise<Outcome<T>> {
    const read = await this.readShared(key);
    if (!read.ok) return this.computeAlone(key, compute, flight, 'none', true);
    if (read.value !== null) return this.adopt(key, read.value, compute, flight, read.value.freshUntil > this.now() ? 'shared' : 'stale');
    return this.singleFlight(key, compute, flight);
  }

  /** Nothing in L2: take the lock and compute, or wait for the holder's value. */
  private async singleFlight(key: string, compute: () => Promise<T>, flight: Flight): Promise<Outcome<T>> {
    const lock = await this.shared(key, 'lock', () => this.layer.tryLock(this.sharedKey(key), this.lockTtlMs));
    if (!lock.ok) return this.computeAlone(key, compute, flight, 'none', true);
    if (lock.value !== null) return this.underLock(key, compute, flight, lock.value);
    this.counters.lockWait();
    const started = performance.now();
    for (;;) {
      await sleep(this.pollMs);
      const read = await this.readShared(key);
      if (!read.ok) return this.computeAlone(key, compute, flight, 'none', true);
      if (read.value !== null) return this.adopt(key, read.value, compute, flight, 'none');
      if (performance.now() - started >= this.lockWaitMs) break;
      // Released without a value (its computation failed) or expired (its node died): take over.
      const retry = await this.shared(key, 'lock', () => this.layer.tryLock(this.sharedKey(key), this.lockTtlMs));
      if (!retry.ok) return this.computeAlone(key, compute, flight, 'none', true);
      if (retry.value !== null) return this.underLock(key, compute, flight, retry.value);
    }
    return this.computeAlone(key, compute, flight, 'none', false);
  }

  /**
   * Holding the lock: read L2 once more (the previous holder may have just written it), else
   * compute, write L2, and release. A failed computation serves L2's stale value if it had one.
   */
  private async underLock(key: string, compute: () => Promise<T>, flight: Flight, token: string): Promise<Outcome<T>> {
    try {
      const read = await this.readShared(key);
      if (!read.ok) return await this.computeAlone(key, compute, flight, 'none', true);
      const entry = read.value;
      if (entry !== null && entry.freshUntil > this.now()) return this.adopt(key, entry, compute, flight, 'none');
      const computed = await this.runCompute(key, compute);
      if (!computed.ok) {
        if (entry === null) return { kind: 'fallback', reason: 'compute-error', found: 'none' };
        this.fillLocal(key, entry, flight);
        return { kind: 'value', value: entry.value, source: 'stale', found: 'none' };
      }
      await this.store(key, computed.value, flight, true);
      return { kind: 'value', value: computed.value, source: 'computed', found: 'none' };
    } finally {
      await this.shared(key, 'unlock', () => this.layer.unlock(this.sharedKey(key), token));
    }
  }

  /** Without the lock: the shared layer failed, or the lock holder took longer than lockWaitMs. */
  private async computeAlone(key: string, compute: () => Promise<T>, flight: Flight, found: Found, sharedDown: boolean): Promise<Outcome<T>> {
    const computed = await this.runCompute(key, compute);
    if (!computed.ok) return { kind: 'fallback', reason: sharedDown ? 'shared-unavailable' : 'compute-error', found };
    await this.store(key, computed.value, flight, !sharedDown);
    return { kind: 'value', value: computed.value, source: 'computed', found };
  }

  /** Serves an L2 entry: keeps it in L1, and refreshes it in the background when stale. */
  private adopt(key: string, entry: LocalEntry<T>, compute: () => Promise<T>, flight: Flight, found: Found): Outcome<T> {
    this.fillLocal(key, entry, flight);
    if (entry.freshUntil > this.now()) return { kind: 'value', value: entry.value, source: 'shared', found };
    this.refresh(key, compute);
    return { kind: 'value', value: entry.value, source: 'stale', found };
  }

  /** One background refresh of a key per node at a time; it never rejects. */
  private refresh(key: string, compute: () => Promise<T>): void {
    if (this.refreshing.has(key)) return;
    const flight: Flight = { invalidated: false };
    const started: InFlight<void> = {
      flight,
      promise: this.runRefresh(key, compute, flight)
        .catch(() => undefined)
        .finally(() => {
          if (this.refreshing.get(key) === started) this.refreshing.delete(key);
        }),
    };
    this.refreshing.set(key, started);
  }

  private async runRefresh(key: string, compute: () => Promise<T>, flight: Flight): Promise<void> {
    const read = await this.readShared(key);
    if (!read.ok) {
      await this.computeAlone(key, compute, flight, 'none', true);
      return;
    }
    if (read.value !== null && read.value.freshUntil > this.now()) {
      this.fillLocal(key, read.value, flight);
      return;
    }
    const lock = await this.shared(key, 'lock', () => this.layer.tryLock(this.sharedKey(key), this.lockTtlMs));
    if (!lock.ok) {
      await this.computeAlone(key, compute, flight, 'none', true);
      return;
    }
    // Another node is refreshing it: keep serving stale; a later get adopts its value.
    if (lock.value === null) return;
    await this.underLock(key, compute, flight, lock.value);
  }

  /** Reads and decodes the L2 entry; an undecodable entry counts as none (and is overwritten by the next computation). */
  private async readShared(key: string): Promise<Shared<LocalEntry<T> | null>> {
    const read = await this.shared(key, 'shared-get', () => this.layer.get(this.sharedKey(key)));
    if (!read.ok) return read;
    const entry: SharedEntry | null = read.value;
    // Past its stale window by this node's clock, though the store has not dropped it yet (clocks differ).
    if (entry === null || entry.staleUntil <= this.now()) return { ok: true, value: null };
    try {
      return { ok: true, value: { value: this.decode(entry.value), freshUntil: entry.freshUntil, staleUntil: entry.staleUntil } };
    } catch (err) {
      this.report(err, key, 'decode');
      return { ok: true, value: null };
    }
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

  /** A computed value: into L1, and into L2 unless the shared layer is known to be down. Not cached if invalidated meanwhile. */
  private async store(key: string, value: T, flight: Flight, writeShared: boolean): Promise<void> {
    const now = this.now();
    this.fillLocal(key, { value, freshUntil: now + this.freshMs, staleUntil: now + this.freshMs + this.staleMs }, flight);
    if (!writeShared || flight.invalidated) return;
    let bytes: Uint8Array;
    try {
      bytes = this.encode(value);
    } catch (err) {
      this.report(err, key, 'encode');
      return;
    }
    await this.shared(key, 'shared-set', () => this.layer.set(this.sharedKey(key), bytes, this.freshMs, this.staleMs));
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
