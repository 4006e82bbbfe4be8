import t, { type Test } from 'tap';
import { Packr } from 'msgpackr';
import type { EntryAndLock, InvalidationMessage, SharedEntry, SharedLayer } from '../../src/cache/shared-layer.js';
import { SwrCache, type CacheCounters, type CacheErrorContext, type CacheResult, type FallbackReason, type SwrCacheOptions } from '../../src/cache/swr-cache.js';
import { waitFor } from '../helpers.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { memoryWorld, redisWorld, type SharedWorld, type WorldFactory } from './shared-layer-conformance.js';

interface Recs {
  version: number;
  items: string[];
}

// The cache's default encoding.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

const recs = (version: number): Recs => ({ version, items: [`item-${version}`] });
const FALLBACK: Recs = { version: -1, items: ['popular-fallback'] };
const fallback = (): Recs => FALLBACK;

class Tally implements CacheCounters {
  readonly hits = { local: 0, shared: 0 };
  stale = 0;
  misses = 0;
  refreshes = 0;
  lockWaits = 0;
  readonly fallbacks: FallbackReason[] = [];

  hit(layer: 'local' | 'shared'): void {
    this.hits[layer]++;
  }
  staleHit(): void {
    this.stale++;
  }
  miss(): void {
    this.misses++;
  }
  refresh(): void {
    this.refreshes++;
  }
  lockWait(): void {
    this.lockWaits++;
  }
  fallback(reason: FallbackReason): void {
    this.fallbacks.push(reason);
  }
}

interface Node {
  cache: SwrCache<Recs>;
  layer: ObservedLayer;
  tally: Tally;
  errors: CacheErrorContext[];
}

/** A clock the test moves by hand: freshness is judged by it, in the caches and the layers alike. */
class Clock {
  time = 1_700_000_000_000;
  readonly now = (): number => this.time;
}

/** The shared-layer operations a cache may call per get (the invalidation bus aside). */
type Operation = 'get' | 'getOrLock' | 'set' | 'setAndUnlock' | 'delete' | 'deletePrefix' | 'unlock';

/**
 * A node's view of the shared layer, counting every call: it fails every call while `down` (as
 * RedisSharedLayer does while Redis is down), logs each call by name, and logs the outcome of
 * each getOrLock that tried the lock (its entry missing or stale by `now`).
 */
class ObservedLayer implements SharedLayer {
  down = false;
  readonly calls: Operation[] = [];
  readonly locks: Array<'taken' | 'refused'> = [];
  /** Calls not answered yet. */
  pending = 0;
  constructor(
    private readonly inner: SharedLayer,
    private readonly now: () => number,
  ) {}
  private async call<R>(operation: Operation, run: () => Promise<R>): Promise<R> {
    this.calls.push(operation);
    if (this.down) throw Object.assign(new Error('redis unavailable'), { name: 'StoreUnavailableError' });
    this.pending++;
    try {
      return await run();
    } finally {
      this.pending--;
    }
  }
  get(key: string): Promise<SharedEntry | null> {
    return this.call('get', () => this.inner.get(key));
  }
  async getOrLock(key: string, lockTtlMs: number): Promise<EntryAndLock> {
    const found = await this.call('getOrLock', () => this.inner.getOrLock(key, lockTtlMs));
    if (found.lock !== null) this.locks.push('taken');
    else if (found.entry === null || found.entry.freshUntil <= this.now()) this.locks.push('refused');
    return found;
  }
  set(key: string, value: Uint8Array, freshMs: number, staleMs: number): Promise<void> {
    return this.call('set', () => this.inner.set(key, value, freshMs, staleMs));
  }
  setAndUnlock(key: string, value: Uint8Array, freshMs: number, staleMs: number, token: string): Promise<boolean> {
    return this.call('setAndUnlock', () => this.inner.setAndUnlock(key, value, freshMs, staleMs, token));
  }
  delete(keys: readonly string[]): Promise<void> {
    return this.call('delete', () => this.inner.delete(keys));
  }
  deletePrefix(prefix: string): Promise<number> {
    return this.call('deletePrefix', () => this.inner.deletePrefix(prefix));
  }
  unlock(key: string, token: string): Promise<boolean> {
    return this.call('unlock', () => this.inner.unlock(key, token));
  }
  publishInvalidation(message: InvalidationMessage): Promise<void> {
    if (this.down) return Promise.reject(Object.assign(new Error('redis unavailable'), { name: 'StoreUnavailableError' }));
    return this.inner.publishInvalidation(message);
  }
  subscribeInvalidations(handler: (message: InvalidationMessage) => void): Promise<() => Promise<void>> {
    return this.inner.subscribeInvalidations(handler);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** `count` nodes of one cache over one shared world; closed at the end of the test. */
async function nodes(t: Test, world: SharedWorld, clock: Clock, count: number, options: Partial<SwrCacheOptions<Recs>> = {}): Promise<Node[]> {
  const made: Node[] = [];
  for (let i = 0; i < count; i++) {
    const layer = new ObservedLayer(await world.node(), clock.now);
    const tally = new Tally();
    const errors: CacheErrorContext[] = [];
    const cache = new SwrCache<Recs>({
      name: 'popular',
      layer,
      l1Max: 1_000,
      freshMs: 1_000,
      staleMs: 60_000,
      lockTtlMs: 10_000,
      lockWaitMs: 5_000,
      counters: tally,
      onError: (_err, context) => errors.push(context),
      now: clock.now,
      ...options,
    });
    made.push({ cache, layer, tally, errors });
  }
  t.teardown(async () => {
    await Promise.all(made.map((node) => node.cache.close()));
  });
  return made;
}

/** A promise the test resolves when it chooses. */
function gate(t: Test): { promise: Promise<void>; open(): void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  // Teardowns run last-registered first: before the caches' close(), which waits for computations.
  t.teardown(() => open());
  return { promise, open };
}

/**
 * Until no node has a shared-layer call outstanding: with computations that answer at once, a
 * background refresh has then run to its end (between its calls it only waits for microtasks,
 * so after a turn of the event loop it is either waiting for a call or done).
 */
const settled = async (all: Node[]): Promise<void> => {
  await new Promise((resolve) => setImmediate(resolve));
  await waitFor('background refreshes to finish', () => all.every((node) => node.layer.pending === 0));
};

const sum = (all: Node[], pick: (node: Node) => number): number => all.reduce((total, node) => total + pick(node), 0);
const sources = (results: CacheResult<Recs>[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const { source } of results) counts[source] = (counts[source] ?? 0) + 1;
  return counts;
};

function swrScenarios(t: Test, name: string, createWorld: WorldFactory): void {
  const withWorld = (title: string, body: (t: Test, world: SharedWorld, clock: Clock) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const clock = new Clock();
      const world = await createWorld(clock.now);
      // Registered first, so it runs after the caches' teardown.
      t.teardown(() => world.close());
      await body(t, world, clock);
    });
  };

  withWorld('a just-expired hot key: 1,000 gets over three nodes are served stale while exactly one refresh runs', async (t, world, clock) => {
    const all = await nodes(t, world, clock, 3);
    let computes = 0;
    const first = await all[0].cache.get('hot', async () => (computes++, recs(1)), fallback);
    t.strictSame(first, { value: recs(1), source: 'computed' });
    for (const node of all.slice(1)) t.strictSame(await node.cache.get('hot', async () => (computes++, recs(0)), fallback), { value: recs(1), source: 'shared' });
    for (const node of all) t.strictSame(await node.cache.get('hot', async () => (computes++, recs(0)), fallback), { value: recs(1), source: 'local' });
    t.equal(computes, 1);

    clock.time += 1_000; // exactly the end of the fresh window
    computes = 0;
    const refreshes = sum(all, (node) => node.tally.refreshes);
    for (const node of all) node.layer.locks.length = 0;
    const blocked = gate(t);
    const compute = async (): Promise<Recs> => {
      computes++;
      await blocked.promise;
      return recs(2);
    };
    const results = await Promise.all(Array.from({ length: 1_000 }, (_, i) => all[i % 3].cache.get('hot', compute, fallback)));
    t.equal(results.length, 1_000);
    t.ok(results.every((result) => result.source === 'stale' && result.value.version === 1), 'all 1,000 got the stale value at once');
    // Each node ran one refresh for its 333 or 334 gets: one took the lock, the other two found it taken.
    const locks = () => all.flatMap((node) => node.layer.locks).sort();
    await waitFor('one refresh per node to reach the lock, and the winner its computation', () => locks().length === 3 && computes > 0);
    t.strictSame(locks(), ['refused', 'refused', 'taken']);
    t.equal(computes, 1, 'one computation, still running');
    const during = await Promise.all(all.map((node) => node.cache.get('hot', compute, fallback)));
    t.ok(during.every((result) => result.source === 'stale' && result.value.version === 1), 'stale is served while it runs');

    blocked.open();
    await waitFor('every node to serve the refreshed value', async () => {
      const now = await Promise.all(all.map((node) => node.cache.get('hot', compute, fallback)));
      return now.every((result) => result.value.version === 2);
    });
    for (const node of all) t.strictSame(await node.cache.get('hot', compute, fallback), { value: recs(2), source: 'local' });
    t.equal(computes, 1, 'exactly one recomputation across the three nodes');
    t.equal(sum(all, (node) => node.tally.refreshes) - refreshes, 1, 'counted once');
    t.ok(sum(all, (node) => node.tally.stale) >= 1_000, 'every stale answer counted');
    t.strictSame(all.flatMap((node) => node.errors), []);
  });

  withWorld('shared-layer calls per path: a cold load 2, a fresh L1 hit 0, an L2 hit 1, a refresh 2', async (t, world, clock) => {
    const [a, b, c] = await nodes(t, world, clock, 3);
    /** The node's calls since the last look. */
    const calls = (node: Node): Operation[] => node.layer.calls.splice(0);
    let computes = 0;
    const compute = async (): Promise<Recs> => recs(++computes);

    t.strictSame(await a.cache.get('k', compute, fallback), { value: recs(1), source: 'computed' });
    t.strictSame(calls(a), ['getOrLock', 'setAndUnlock'], 'a cold load: getOrLock (nothing there, lock taken), compute, setAndUnlock');
    t.strictSame(await a.cache.get('k', compute, fallback), { value: recs(1), source: 'local' });
    t.strictSame(calls(a), [], 'a fresh L1 hit: no call');
    t.strictSame(await b.cache.get('k', compute, fallback), { value: recs(1), source: 'shared' });
    t.strictSame(calls(b), ['getOrLock'], 'an L2 hit on another node: one getOrLock, which takes no lock');

    clock.time += 1_000;
    t.strictSame(await a.cache.get('k', compute, fallback), { value: recs(1), source: 'stale' });
    await settled([a]);
    t.strictSame(calls(a), ['getOrLock', 'setAndUnlock'], 'a refresh of a stale entry: getOrLock (stale, lock taken), compute, setAndUnlock');
    t.strictSame(await a.cache.get('k', compute, fallback), { value: recs(2), source: 'local' });
    t.strictSame(await b.cache.get('k', compute, fallback), { value: recs(1), source: 'stale' }, 'the other node still has its stale copy');
    await settled([b]);
    t.strictSame(calls(b), ['getOrLock'], 'its refresh finds the refreshed value: adopted with one call, no lock, no computation');
    t.strictSame(await b.cache.get('k', compute, fallback), { value: recs(2), source: 'local' });
    t.equal(computes, 2, 'one computation per expiry');

    clock.time += 1_000;
    t.strictSame(await c.cache.get('k', compute, fallback), { value: recs(2), source: 'stale' }, 'nothing in L1, stale in L2: served stale');
    await settled([c]);
    t.strictSame(calls(c), ['getOrLock', 'setAndUnlock'], 'and refreshed under the lock its lookup took: still two calls');
    t.strictSame(await c.cache.get('k', compute, fallback), { value: recs(3), source: 'local' });

    const failing = async (): Promise<Recs> => {
      throw new Error('no model');
    };
    t.strictSame(await a.cache.get('x', failing, fallback), { value: FALLBACK, source: 'fallback' });
    t.strictSame(calls(a), ['getOrLock', 'unlock'], 'a failed computation: getOrLock, then the lock released');
    t.equal(computes, 3);
    t.strictSame([...a.errors, ...b.errors, ...c.errors], [{ cache: 'popular', key: 'x', operation: 'compute' }]);
  });

  withWorld('a node waiting for another\'s computation polls with getOrLock, at growing intervals', async (t, world, clock) => {
    const [a, b] = await nodes(t, world, clock, 2, { pollMs: 10, pollMaxMs: 100 });
    const blocked = gate(t);
    const slow = a.cache.get('k', async () => (await blocked.promise, recs(1)), fallback);
    await waitFor('the first node to compute', () => a.tally.refreshes === 1);
    const started = performance.now();
    const waiting = b.cache.get('k', async () => recs(0), fallback);
    await new Promise((resolve) => setTimeout(resolve, 300));
    blocked.open();
    t.strictSame(await waiting, { value: recs(1), source: 'shared' }, 'it gets the holder\'s value');
    const elapsed = performance.now() - started;
    t.strictSame(await slow, { value: recs(1), source: 'computed' });
    const polls = b.layer.calls.length - 1;
    t.ok(b.layer.calls.every((call) => call === 'getOrLock'), `getOrLock only: ${b.layer.calls.join(' ')}`);
    // Poll i comes at least 10 + 20 + ... (capped at 100) ms after the first lookup.
    let due = 0;
    let possible = 0;
    for (let delay = 10; due + delay <= elapsed; delay = Math.min(delay * 2, 100)) {
      due += delay;
      possible++;
    }
    t.ok(polls >= 1 && polls <= possible, `${polls} polls in ${Math.round(elapsed)} ms (at most ${possible}; a fixed 15 ms would allow ${Math.floor(elapsed / 15)})`);
    t.equal(b.tally.lockWaits, 1);
  });

  withWorld('a cold start: 300 gets over three nodes, one computation, the other nodes wait for it', async (t, world, clock) => {
    const all = await nodes(t, world, clock, 3);
    let computes = 0;
    const blocked = gate(t);
    const compute = async (): Promise<Recs> => {
      computes++;
      await blocked.promise;
      return recs(7);
    };
    const pending = Promise.all(Array.from({ length: 300 }, (_, i) => all[i % 3].cache.get('cold', compute, fallback)));
    await waitFor('one computation and two waiting nodes', () => computes === 1 && sum(all, (node) => node.tally.lockWaits) === 2);
    blocked.open();
    const results = await pending;
    t.equal(computes, 1, 'exactly one computation');
    t.ok(results.every((result) => result.value.version === 7), 'all 300 got the value');
    t.strictSame(sources(results), { computed: 100, shared: 200 }, 'one node computed; the others took its value from the shared layer');
    t.equal(sum(all, (node) => node.tally.misses), 300, 'each get counts its miss');
    t.equal(sum(all, (node) => node.tally.lockWaits), 2, 'one wait per waiting node, not per get');
    t.equal(sum(all, (node) => node.tally.refreshes), 1);
    for (const node of all) t.strictSame(await node.cache.get('cold', compute, fallback), { value: recs(7), source: 'local' });
  });

  withWorld('the lock holder is slower than lockWaitMs: the waiting nodes compute for themselves', async (t, world, clock) => {
    const [a, b, c] = await nodes(t, world, clock, 3, { lockWaitMs: 100 });
    const blocked = gate(t);
    let computes = 0;
    const compute = async (): Promise<Recs> => {
      const n = ++computes;
      if (n === 1) await blocked.promise;
      return recs(n);
    };
    const slow = a.cache.get('slow', compute, fallback);
    await waitFor('the first node to compute', () => computes === 1);
    t.strictSame(await b.cache.get('slow', compute, fallback), { value: recs(2), source: 'computed' }, 'computed after waiting, without the lock');
    t.equal(b.tally.lockWaits, 1);
    t.strictSame(await c.cache.get('slow', compute, fallback), { value: recs(2), source: 'shared' }, 'a node with no copy reads the one that was written');
    blocked.open();
    t.strictSame(await slow, { value: recs(1), source: 'computed' });
    t.equal(computes, 2);
  });

  withWorld('the lock holder\'s computation fails: it falls back, and a waiting node takes the lock over', async (t, world, clock) => {
    const all = await nodes(t, world, clock, 2);
    const blocked = gate(t);
    let computes = 0;
    const compute = async (): Promise<Recs> => {
      const n = ++computes;
      if (n === 1) {
        await blocked.promise;
        throw new Error('model timed out');
      }
      return recs(n);
    };
    const failing = all[0].cache.get('flaky', compute, fallback);
    await waitFor('the first node to compute', () => computes === 1);
    const waiting = all[1].cache.get('flaky', compute, fallback);
    await waitFor('the second node to wait', () => all[1].tally.lockWaits === 1);
    blocked.open();
    t.strictSame(await failing, { value: FALLBACK, source: 'fallback' });
    t.strictSame(all[0].tally.fallbacks, ['compute-error']);
    t.strictSame(all[0].errors, [{ cache: 'popular', key: 'flaky', operation: 'compute' }]);
    t.strictSame(await waiting, { value: recs(2), source: 'computed' }, 'computed under the released lock');
    t.equal(computes, 2);
    t.strictSame(await all[0].cache.get('flaky', compute, fallback), { value: recs(2), source: 'shared' });
  });

  withWorld('compute failures with the layer up: fallback with nothing cached, stale from either layer otherwise', async (t, world, clock) => {
    const [a, b] = await nodes(t, world, clock, 2);
    const failing = async (): Promise<Recs> => {
      throw new Error('no model');
    };
    t.strictSame(await a.cache.get('x', failing, fallback), { value: FALLBACK, source: 'fallback' });
    t.strictSame(a.tally.fallbacks, ['compute-error']);
    t.equal(a.tally.misses, 1);
    t.strictSame(await a.cache.get('x', async () => recs(1), fallback), { value: recs(1), source: 'computed' }, 'the lock was released: the next get computes at once');
    t.equal(a.tally.lockWaits, 0);

    clock.time += 1_500;
    t.strictSame(await a.cache.get('x', failing, fallback), { value: recs(1), source: 'stale' }, 'stale in L1');
    await waitFor('the failed refresh to be reported', () => a.errors.length === 2);
    await settled([a]);
    t.strictSame(await b.cache.get('x', failing, fallback), { value: recs(1), source: 'stale' }, 'stale in L2, for a node without it in L1');
    await waitFor('the other node\'s failed refresh', () => b.errors.length === 1);
    t.strictSame(await a.cache.get('x', failing, fallback), { value: recs(1), source: 'stale' }, 'still served after the failed refreshes');
    await settled([a, b]);
    t.strictSame(b.errors, [{ cache: 'popular', key: 'x', operation: 'compute' }]);
    t.equal(b.tally.stale, 1);
    t.strictSame([...a.tally.fallbacks, ...b.tally.fallbacks], ['compute-error'], 'no fallback while a stale value exists');
  });

  withWorld('freshness comes from the writer: a value from L2 is fresh in L1 only as long as in L2', async (t, world, clock) => {
    const [a, b] = await nodes(t, world, clock, 2);
    await a.cache.get('k', async () => recs(1), fallback);
    clock.time += 600;
    t.strictSame(await b.cache.get('k', async () => recs(0), fallback), { value: recs(1), source: 'shared' });
    clock.time += 400;
    const blocked = gate(t);
    let computes = 0;
    const compute = async (): Promise<Recs> => (computes++, await blocked.promise, recs(2));
    t.strictSame(await b.cache.get('k', compute, fallback), { value: recs(1), source: 'stale' }, 'stale on both nodes at the same moment');
    t.strictSame(await a.cache.get('k', compute, fallback), { value: recs(1), source: 'stale' });
    blocked.open();
    await waitFor('the refreshed value on both nodes', async () => {
      const now = await Promise.all([a, b].map((node) => node.cache.get('k', compute, fallback)));
      return now.every((result) => result.value.version === 2);
    });
    t.equal(computes, 1);
    clock.time += 61_000;
    t.strictSame(await a.cache.get('k', async () => recs(3), fallback), { value: recs(3), source: 'computed' }, 'past its stale window a value is not served at all');
  });

  withWorld('L1 is bounded by l1Max; an undecodable shared entry is recomputed and overwritten', async (t, world, clock) => {
    const [a] = await nodes(t, world, clock, 1, { l1Max: 2 });
    for (const key of ['k1', 'k2', 'k3']) await a.cache.get(key, async () => recs(1), fallback);
    t.strictSame(['k1', 'k2', 'k3'].map((key) => a.cache.hasLocal(key)), [false, true, true], 'the least recently used went first');
    t.strictSame(await a.cache.get('k1', async () => recs(0), fallback), { value: recs(1), source: 'shared' });

    await a.layer.set('popular:bad', new Uint8Array([0x92, 0x01]), 60_000, 0); // an array of two, cut after one
    t.strictSame(await a.cache.get('bad', async () => recs(5), fallback), { value: recs(5), source: 'computed' });
    t.strictSame(a.errors, [{ cache: 'popular', key: 'bad', operation: 'decode' }], 'reported by the read');
    const entry = await a.layer.get('popular:bad');
    t.strictSame(Array.from(entry?.value ?? []), Array.from(packr.pack(recs(5))), 'overwritten with the computed value');
  });

  withWorld('invalidation: the key leaves every node\'s L1 and the shared layer; other caches and items messages are left alone', async (t, world, clock) => {
    const all = await nodes(t, world, clock, 3);
    const [related] = await nodes(t, world, clock, 1, { name: 'related' });
    for (const node of all) await node.cache.listen();
    await related.cache.listen();
    const keys = ['k', 'user:1:a', 'user:1:b', 'user:10:a'];
    for (const node of all) for (const key of keys) await node.cache.get(key, async () => recs(1), fallback);
    await related.cache.get('k', async () => recs(1), fallback);
    for (const node of all) t.ok(keys.every((key) => node.cache.hasLocal(key)), 'warm everywhere');

    // A spy on the first node's layer connection hears each message after the first cache did.
    const heard: InvalidationMessage[] = [];
    await all[0].layer.subscribeInvalidations((message) => heard.push(message));

    await all[0].cache.invalidate(['k']);
    t.equal(all[0].cache.hasLocal('k'), false, 'dropped at once on the invalidating node');
    t.equal(await all[0].layer.get('popular:k'), null, 'and from the shared layer');
    await waitFor('the other nodes to drop it', () => all.every((node) => !node.cache.hasLocal('k')));
    t.ok(related.cache.hasLocal('k'), 'another cache\'s key of the same name stays');
    t.not(await all[0].layer.get('related:k'), null);

    t.strictSame(await all[1].cache.get('k', async () => recs(2), fallback), { value: recs(2), source: 'computed' }, 'the next get computes anew');
    t.strictSame(await all[2].cache.get('k', async () => recs(0), fallback), { value: recs(2), source: 'shared' });

    await all[1].cache.invalidatePrefix('user:1:');
    await waitFor('every node to drop user:1:*', () => all.every((node) => !node.cache.hasLocal('user:1:a') && !node.cache.hasLocal('user:1:b')));
    t.ok(all.every((node) => node.cache.hasLocal('user:10:a')), 'user:10:a is not under user:1:');
    t.equal(await all[0].layer.get('popular:user:1:a'), null);
    t.not(await all[0].layer.get('popular:user:10:a'), null);

    // The invalidating node skips its own echo: a value it computed right after stays.
    await all[0].cache.invalidate(['user:10:a']);
    t.strictSame(await all[0].cache.get('user:10:a', async () => recs(3), fallback), { value: recs(3), source: 'computed' });
    await all[0].layer.publishInvalidation({ items: ['item-1'] });
    await waitFor('the spy to hear the items message', () => heard.some((message) => message.items !== undefined));
    t.ok(all[0].cache.hasLocal('user:10:a'), 'kept through its own echo');
    t.ok(all[1].cache.hasLocal('k') && all[2].cache.hasLocal('k') && related.cache.hasLocal('k'), 'items messages drop nothing');
    await waitFor('the other nodes to drop user:10:a', () => !all[1].cache.hasLocal('user:10:a') && !all[2].cache.hasLocal('user:10:a'));

    // A prefix above every cache name reaches every cache.
    await all[0].layer.publishInvalidation({ prefixes: [''] });
    await waitFor('every cache to empty', () => [...all, related].every((node) => !node.cache.hasLocal('k')));
  });

  withWorld('an invalidation during a computation keeps its result out of both layers', async (t, world, clock) => {
    const [a, b] = await nodes(t, world, clock, 2);
    await b.cache.listen();
    // Subscribed after the cache on the same connection: it hears a message after the cache did.
    const heard: InvalidationMessage[] = [];
    await b.layer.subscribeInvalidations((message) => heard.push(message));
    const blocked = gate(t);
    const pending = b.cache.get('k', async () => (await blocked.promise, recs(1)), fallback);
    await waitFor('the computation to start', () => b.tally.refreshes === 1);
    await a.cache.invalidate(['k']);
    await waitFor('the computing node to hear the invalidation', () => heard.length === 1);
    blocked.open();
    t.strictSame(await pending, { value: recs(1), source: 'computed' }, 'its caller still gets the value');
    t.equal(b.cache.hasLocal('k'), false, 'not kept in L1');
    t.equal(await b.layer.get('popular:k'), null, 'not written to the shared layer');
  });
}

interface Outage {
  world: SharedWorld;
  down(nodes: Node[]): Promise<void>;
  /** Back, and empty, as a restarted redis-server without persistence is. */
  up(nodes: Node[]): Promise<void>;
}

/** The shared layer goes away mid-test and comes back empty. */
function outageScenario(t: Test, name: string, createOutage: (t: Test, clock: Clock) => Promise<Outage>): void {
  t.test(`${name}: the shared layer goes down: stale, then computed alone or fallback, never a throw; all recovers after`, async (t) => {
    const clock = new Clock();
    const outage = await createOutage(t, clock);
    t.teardown(() => outage.world.close());
    const all = await nodes(t, outage.world, clock, 2);
    const [a, b] = all;
    // Computing 'a' needs a catalog that is down with the layer, until the test says otherwise.
    let catalogUp = true;
    let version = 1;
    const computeA = async (): Promise<Recs> => {
      if (!catalogUp) throw new Error('the catalog lives in redis too');
      return recs(version++);
    };
    t.strictSame(await a.cache.get('a', computeA, fallback), { value: recs(1), source: 'computed' });
    t.strictSame(await b.cache.get('a', computeA, fallback), { value: recs(1), source: 'shared' });

    await outage.down(all);
    catalogUp = false;
    clock.time += 1_000;
    for (const node of all) t.strictSame(await node.cache.get('a', computeA, fallback), { value: recs(1), source: 'stale' });
    await waitFor('both refreshes to fail', () => all.every((node) => node.errors.some((error) => error.operation === 'compute')));
    t.strictSame(a.errors.slice(0, 2), [{ cache: 'popular', key: 'a', operation: 'shared-get' }, { cache: 'popular', key: 'a', operation: 'compute' }], 'the refresh found the layer down, computed alone, and failed');
    t.strictSame(await a.cache.get('a', computeA, fallback), { value: recs(1), source: 'stale' }, 'the stale value is kept');

    const failing = async (): Promise<Recs> => {
      throw new Error('the catalog lives in redis too');
    };
    t.strictSame(await a.cache.get('never-seen', failing, fallback), { value: FALLBACK, source: 'fallback' });
    t.strictSame(await b.cache.get('never-seen', failing, fallback), { value: FALLBACK, source: 'fallback' });
    t.strictSame([...a.tally.fallbacks, ...b.tally.fallbacks], ['shared-unavailable', 'shared-unavailable'], 'fallbacks counted with their reason');

    let computes = 0;
    const working = async (): Promise<Recs> => (computes++, recs(10));
    const coalesced = await Promise.all(Array.from({ length: 50 }, () => a.cache.get('c', working, fallback)));
    t.ok(coalesced.every((result) => result.source === 'computed' && result.value.version === 10), 'computed without the shared layer');
    t.equal(computes, 1, 'one computation for 50 gets on one node: still coalesced');
    t.strictSame(await b.cache.get('c', working, fallback), { value: recs(10), source: 'computed' });
    t.equal(computes, 2, 'each node on its own while the layer is down');
    t.strictSame(await a.cache.get('c', working, fallback), { value: recs(10), source: 'local' }, 'L1 works alone');
    t.equal(a.tally.lockWaits + b.tally.lockWaits, 0, 'no waiting for a lock that cannot be taken');

    catalogUp = true;
    await waitFor('a refresh computed alone', async () => (await a.cache.get('a', computeA, fallback)).source === 'local');
    t.equal((await a.cache.get('a', computeA, fallback)).value.version, 2);
    await t.rejects(a.cache.invalidate(['never-seen']), { name: 'StoreUnavailableError' }, 'an invalidation that cannot reach the other nodes says so');

    await outage.up(all);
    clock.time += 1_000;
    const before = computes;
    t.strictSame(await a.cache.get('c', working, fallback), { value: recs(10), source: 'stale' }, 'stale until the refresh lands');
    await waitFor('the refreshed value in the shared layer', async () => (await a.layer.get('popular:c')) !== null);
    t.strictSame(await b.cache.get('c', working, fallback), { value: recs(10), source: 'stale' });
    await waitFor('the other node to adopt it', async () => (await b.cache.get('c', working, fallback)).source === 'local');
    t.equal(computes - before, 1, 'one recomputation again, shared through the layer');
    t.strictSame(await a.cache.get('d', async () => recs(4), fallback), { value: recs(4), source: 'computed' });
    t.strictSame(await b.cache.get('d', async () => recs(0), fallback), { value: recs(4), source: 'shared' }, 'fresh values computed and shared again');
  });
}

swrScenarios(t, 'memory', memoryWorld);
outageScenario(t, 'memory', async (_t, clock) => {
  const world = await memoryWorld(clock.now);
  const store = await world.node();
  return {
    world,
    down: async (all) => {
      for (const node of all) node.layer.down = true;
    },
    up: async (all) => {
      await store.deletePrefix('');
      for (const node of all) node.layer.down = false;
    },
  };
});

const server = await startRedis();
t.teardown(() => server.stop());
swrScenarios(t, 'redis', redisWorld({ url: server.url }));

outageScenario(t, 'redis', async (t, clock) => {
  const flaky = await startRedis();
  t.teardown(() => flaky.stop());
  return {
    world: await redisWorld({ url: flaky.url, commandTimeoutMs: 300 })(clock.now),
    down: () => flaky.stop(),
    up: async (all) => {
      await flaky.restart();
      const reachable = (node: Node) => node.layer.get('probe').then(() => true, () => false);
      await waitFor('every node to reconnect', async () => (await Promise.all(all.map(reachable))).every(Boolean), 10_000);
    },
  };
});
