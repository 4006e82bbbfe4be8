import type { Test } from 'tap';
import { MemorySharedLayer, type EntryAndLock, type InvalidationMessage, type SharedLayer } from '../../src/cache/shared-layer.js';
import { RedisSharedLayer } from '../../src/cache/redis-shared-layer.js';
import type { RedisConnectionOptions } from '../../src/store/redis/connection.js';
import { waitFor } from '../helpers.js';

/**
 * One shared store seen by several nodes: node() is another node's view of it (for memory, the
 * same instance; for Redis, a connection of its own over the same key prefix).
 */
export interface SharedWorld {
  node(): Promise<SharedLayer>;
  close(): Promise<void>;
}

export type WorldFactory = (now?: () => number) => Promise<SharedWorld>;

export const memoryWorld: WorldFactory = async (now) => {
  const layer = new MemorySharedLayer(now);
  return { node: async () => layer, close: () => layer.close() };
};

// Each world gets its own key prefix, so cases never see each other's keys or messages.
let prefixes = 0;
export function redisWorld(options: RedisConnectionOptions): WorldFactory {
  return async (now) => {
    const keyPrefix = `c${++prefixes}`;
    const layers: SharedLayer[] = [];
    return {
      async node() {
        const layer = await RedisSharedLayer.open({ ...options, keyPrefix, ...(now === undefined ? {} : { now }) });
        layers.push(layer);
        return layer;
      },
      async close() {
        await Promise.all(layers.map((layer) => layer.close()));
      },
    };
  };
}

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** A getOrLock answer with its value as a plain array and its lock as taken or not, for comparisons. */
const seen = ({ entry, lock }: EntryAndLock) => ({ entry: entry === null ? null : { ...entry, value: Array.from(entry.value) }, locked: lock !== null });

/** The behaviour every shared layer owes SwrCache; each implementation's test file runs it against its own world. */
export function sharedLayerConformance(t: Test, name: string, createWorld: WorldFactory): void {
  const withWorld = (title: string, body: (t: Test, world: SharedWorld, layer: SharedLayer) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const world = await createWorld();
      t.teardown(() => world.close());
      await body(t, world, await world.node());
    });
  };

  withWorld('get, set and delete; values read back exactly, as plain Uint8Arrays', async (t, world, layer) => {
    t.equal(await layer.get('popular:none'), null);
    const before = Date.now();
    await layer.set('popular:all', bytes(0, 1, 127, 128, 255), 60_000, 30_000);
    const after = Date.now();
    const entry = await layer.get('popular:all');
    if (entry === null) throw new Error('entry missing right after set');
    t.equal(Object.getPrototypeOf(entry.value), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
    t.strictSame(Array.from(entry.value), [0, 1, 127, 128, 255]);
    t.ok(entry.storedAt >= before && entry.storedAt <= after, 'storedAt is the writer\'s clock at the write');
    t.equal(entry.freshUntil, entry.storedAt + 60_000);
    t.equal(entry.staleUntil, entry.storedAt + 90_000);

    const other = await world.node();
    t.strictSame(Array.from((await other.get('popular:all'))?.value ?? []), [0, 1, 127, 128, 255], 'another node reads it');
    await other.set('popular:all', bytes(), 60_000, 0);
    t.strictSame(Array.from((await layer.get('popular:all'))?.value ?? [9]), [], 'a set replaces; an empty value is a value');

    for (const key of ['k:1', 'k:2', 'k:3']) await layer.set(key, bytes(1), 60_000, 0);
    await layer.delete(['k:1', 'k:3', 'k:none']);
    t.equal(await layer.get('k:1'), null);
    t.not(await layer.get('k:2'), null);
    t.equal(await layer.get('k:3'), null);
    await layer.delete([]);
    t.not(await layer.get('k:2'), null, 'deleting nothing is a no-op');
  });

  withWorld('keys are opaque: glob characters, braces, colons and any text', async (t, _world, layer) => {
    const keys = ['related:{a}b', 'related:a*b', 'related:aXb', 'related:a?b', 'related:[ab]', 'related:é 日本 😀', 'related:'];
    for (const [i, key] of keys.entries()) await layer.set(key, bytes(i), 60_000, 0);
    for (const [i, key] of keys.entries()) t.strictSame(Array.from((await layer.get(key))?.value ?? []), [i], key);
    t.equal(await layer.deletePrefix('related:a*'), 1, 'a prefix matches literally, not as a pattern');
    t.equal(await layer.get('related:a*b'), null);
    t.not(await layer.get('related:aXb'), null);
    t.equal(await layer.deletePrefix('related:['), 1);
    t.equal(await layer.deletePrefix('nothing:'), 0);
    t.equal(await layer.deletePrefix('related:'), keys.length - 2, 'every key under the prefix, itself included');
    for (const key of keys) t.equal(await layer.get(key), null, `${key} deleted`);
  });

  withWorld('a prefix delete reaches every key under it and no other', async (t, _world, layer) => {
    for (let i = 0; i < 40; i++) await layer.set(`user:${i}:recs`, bytes(i), 60_000, 0);
    await layer.set('users', bytes(1), 60_000, 0);
    t.equal(await layer.deletePrefix('user:1'), 11, 'user:1 and user:10 .. user:19');
    t.equal(await layer.get('user:1:recs'), null);
    t.equal(await layer.get('user:15:recs'), null);
    t.not(await layer.get('user:2:recs'), null);
    t.equal(await layer.deletePrefix('user:'), 29);
    t.not(await layer.get('users'), null);
  });

  withWorld('an entry is stale but readable after freshUntil, and gone after freshMs + staleMs', async (t, _world, layer) => {
    await layer.set('hot:stale', bytes(7), 50, 5_000);
    const entry = await layer.get('hot:stale');
    if (entry === null) throw new Error('entry missing right after set');
    await waitFor('the fresh window to pass', () => Date.now() > entry.freshUntil + 20);
    const stale = await layer.get('hot:stale');
    t.strictSame(stale, entry, 'read back unchanged after its fresh window');

    await layer.set('hot:gone', bytes(8), 30, 70);
    t.not(await layer.get('hot:gone'), null);
    await waitFor('the entry to expire', async () => (await layer.get('hot:gone')) === null);
    t.not(await layer.get('hot:stale'), null, 'the other entry lives on');
    await t.rejects(layer.set('hot:never', bytes(1), 0, 0), RangeError, 'an entry must live at least 1 ms');
  });

  withWorld('locks: one holder at a time, released only with its token, expiring after their ttl', async (t, world, layer) => {
    const other = await world.node();
    const { lock: token } = await layer.getOrLock('popular:all', 10_000);
    if (token === null) throw new Error('a free lock was refused');
    t.equal((await layer.getOrLock('popular:all', 10_000)).lock, null, 'held: refused to the same node');
    t.equal((await other.getOrLock('popular:all', 10_000)).lock, null, 'held: refused to another node');
    t.not((await other.getOrLock('popular:other', 10_000)).lock, null, 'locks are per key');
    t.equal(await layer.get('popular:all'), null, 'a lock is not an entry');

    t.equal(await other.unlock('popular:all', 'not-the-token'), false, 'a wrong token releases nothing');
    t.equal((await other.getOrLock('popular:all', 10_000)).lock, null, 'still held');
    t.equal(await other.unlock('popular:all', token), true, 'the holder\'s token releases it, from any node');
    t.equal(await layer.unlock('popular:all', token), false, 'released once');
    const { lock: next } = await other.getOrLock('popular:all', 10_000);
    t.ok(next !== null && next !== token, 'free again, with a new token');

    await layer.set('popular:set', bytes(1), 0, 60_000);
    t.not((await layer.getOrLock('popular:set', 10_000)).lock, null, 'an entry (stale at once) is not a lock');

    const { lock: short } = await layer.getOrLock('short', 50);
    if (short === null) throw new Error('a free lock was refused');
    let taken: string | null = null;
    await waitFor('the lock to expire', async () => (taken = (await other.getOrLock('short', 10_000)).lock) !== null);
    t.equal(await layer.unlock('short', short), false, 'an expired token does not release the next holder\'s lock');
    t.equal(await layer.setAndUnlock('short', bytes(9), 60_000, 0, short), false, 'nor does a setAndUnlock with it ...');
    t.strictSame(Array.from((await layer.get('short'))?.value ?? []), [9], '... which stores its value even so');
    t.equal(await other.unlock('short', taken ?? ''), true, 'the next holder kept the lock');
    await t.rejects(layer.getOrLock('bad', 0), RangeError);
  });

  t.test(`${name}: getOrLock reads the entry and takes the lock in one step, never for a fresh entry; setAndUnlock stores and releases in one`, async (t) => {
    let clock = 1_700_000_000_000;
    const world = await createWorld(() => clock);
    t.teardown(() => world.close());
    const [layer, other] = [await world.node(), await world.node()];

    const cold = await layer.getOrLock('popular:k', 10_000);
    t.strictSame(seen(cold), { entry: null, locked: true }, 'nothing there: the lock is taken');
    if (cold.lock === null) throw new Error('unreachable');
    t.strictSame(seen(await other.getOrLock('popular:k', 10_000)), { entry: null, locked: false }, 'held: another node gets neither');
    t.strictSame(seen(await layer.getOrLock('popular:k', 10_000)), { entry: null, locked: false }, 'held: nor does the same node');

    t.equal(await layer.setAndUnlock('popular:k', bytes(1, 2), 1_000, 60_000, cold.lock), true, 'stored, and released');
    const stored = { value: [1, 2], storedAt: clock, freshUntil: clock + 1_000, staleUntil: clock + 61_000 };
    t.strictSame(seen(await other.getOrLock('popular:k', 10_000)), { entry: stored, locked: false }, 'fresh: the entry, and no lock taken');
    const fresh = await other.getOrLock('popular:k', 10_000);
    t.equal(Object.getPrototypeOf(fresh.entry?.value), Uint8Array.prototype, 'a plain Uint8Array, not a Buffer');
    clock += 999;
    t.strictSame(seen(await other.getOrLock('popular:k', 10_000)), { entry: stored, locked: false }, 'still fresh');

    clock += 1; // freshUntil: stale from now on
    const stale = await other.getOrLock('popular:k', 10_000);
    t.strictSame(seen(stale), { entry: stored, locked: true }, 'stale: the entry, and the lock taken with it (so the fresh reads took none)');
    if (stale.lock === null) throw new Error('unreachable');
    t.strictSame(seen(await layer.getOrLock('popular:k', 10_000)), { entry: stored, locked: false }, 'stale and held: the entry alone');

    t.equal(await layer.setAndUnlock('popular:k', bytes(3), 0, 60_000, 'not-the-token'), false, 'a wrong token releases nothing ...');
    t.strictSame(Array.from((await layer.get('popular:k'))?.value ?? []), [3], '... and the value is stored all the same');
    t.equal((await layer.getOrLock('popular:k', 10_000)).lock, null, 'the holder still has the lock');
    await t.rejects(other.setAndUnlock('popular:k', bytes(5), 0, 0, stale.lock), RangeError, 'an entry must live at least 1 ms ...');
    t.strictSame(Array.from((await layer.get('popular:k'))?.value ?? []), [3], '... and a refused one changes nothing:');
    t.equal((await layer.getOrLock('popular:k', 10_000)).lock, null, 'neither the value nor the lock');
    t.equal(await other.setAndUnlock('popular:k', bytes(4), 1_000, 60_000, stale.lock), true, 'the holder\'s token releases it');
    t.strictSame(seen(await layer.getOrLock('popular:k', 10_000)), { entry: { value: [4], storedAt: clock, freshUntil: clock + 1_000, staleUntil: clock + 61_000 }, locked: false });

    clock += 61_000; // the entry's staleUntil, by the layer's clock
    const gone = await layer.getOrLock('popular:k', 10_000);
    t.strictSame(seen(gone), { entry: null, locked: true }, 'past its stale window the entry is gone, and the lock free');
    t.equal(await layer.get('popular:other'), null);
    await t.rejects(layer.getOrLock('popular:k', 0.5), RangeError, 'a lock must live at least 1 ms');
  });

  withWorld('an entry and its lock go together for any key: empty, braces anywhere', async (t, _world, layer) => {
    const keys = ['', '}', '}x', '{', '{}', 'a', 'a}b{c}', 'x{y}z', '{popular}:a'];
    for (const [i, key] of keys.entries()) {
      const { entry, lock } = await layer.getOrLock(key, 10_000);
      t.equal(entry, null);
      if (lock === null) throw new Error(`the free lock of "${key}" was refused`);
      t.equal(await layer.setAndUnlock(key, bytes(i), 60_000, 0, lock), true, `"${key}": stored and released in one step`);
    }
    for (const [i, key] of keys.entries()) {
      const found = await layer.getOrLock(key, 10_000);
      t.strictSame([Array.from(found.entry?.value ?? []), found.lock], [[i], null], `"${key}" reads back, fresh: no lock taken`);
    }
    const { lock: held } = await layer.getOrLock('}held', 10_000);
    t.not(held, null);
    t.equal(await layer.deletePrefix('a}'), 1, 'a prefix ending where a key\'s brace would close: "a}b{c}" only, not "a"');
    t.not(await layer.get('a'), null);
    t.equal(await layer.deletePrefix('}'), 2, '"}" and "}x"; a lock is not an entry');
    t.equal((await layer.getOrLock('}held', 10_000)).lock, null, 'a prefix delete leaves locks alone');
    t.equal(await layer.deletePrefix(''), keys.length - 3, 'the empty prefix: every entry left');
    t.equal(await layer.get(''), null);
  });

  withWorld('invalidation messages reach every subscriber of every node, until it unsubscribes', async (t, world, layer) => {
    const other = await world.node();
    const got: Record<string, InvalidationMessage[]> = { a: [], b: [], c: [] };
    const unsubscribeA = await layer.subscribeInvalidations((m) => got.a.push(m));
    await layer.subscribeInvalidations((m) => got.b.push(m));
    await other.subscribeInvalidations((m) => got.c.push(m));

    const first: InvalidationMessage = { keys: ['popular:all', 'related:{x}'], origin: 'node-1' };
    const second: InvalidationMessage = { prefixes: ['user:1:'], items: ['item-9', 'é'] };
    await layer.publishInvalidation(first);
    await other.publishInvalidation(second);
    await waitFor('every subscriber to get both messages', () => Object.values(got).every((messages) => messages.length === 2));
    // Two publishers' messages may arrive in either order (in a cluster they travel through different nodes).
    const sorted = (messages: InvalidationMessage[]) => messages.map((m) => JSON.stringify(m)).sort();
    for (const [who, messages] of Object.entries(got)) t.strictSame(sorted(messages), sorted([first, second]), `subscriber ${who} got both, exactly`);

    await unsubscribeA();
    await layer.publishInvalidation({ items: ['item-1'] });
    await waitFor('the remaining subscribers to get the third', () => got.b.length === 3 && got.c.length === 3);
    t.equal(got.a.length, 2, 'an unsubscribed handler gets nothing more');
    t.strictSame(got.c[2], { items: ['item-1'] });

    // A handler that throws does not stop delivery to the others.
    await other.subscribeInvalidations(() => {
      throw new Error('subscriber bug');
    });
    await layer.publishInvalidation({ keys: ['after-bug'] });
    await waitFor('delivery past a throwing handler', () => got.c.length === 4);
  });
}
