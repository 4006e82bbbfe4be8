import t from 'tap';
import { CachedIdentityStore } from '../../src/store/cached-identities.js';
import { MemoryIdentityStore, MemoryNodeBus } from '../../src/store/memory.js';
import type { IdentityStore } from '../../src/store/types.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { createRedisStores } from '../../src/store/redis/index.js';
import { waitFor } from '../helpers.js';

/** The shared store, counting the lookups that reach it. */
function counted(inner: IdentityStore): IdentityStore & { lookups: number } {
  const store = {
    lookups: 0,
    userOf: (sessionId: string) => {
      store.lookups++;
      return inner.userOf(sessionId);
    },
    link: (sessionId: string, userId: string) => inner.link(sessionId, userId),
    sessionsOf: (userId: string) => inner.sessionsOf(userId),
    unlinkUser: (userId: string) => inner.unlinkUser(userId),
  };
  return store;
}

t.test('each node asks the store once per session, and follows links and erasures made on any node through the bus', async (t) => {
  const shared = counted(new MemoryIdentityStore());
  const bus = new MemoryNodeBus();
  const options = { max: 100, ttlMs: 60_000, onError: (err: unknown) => t.error(err) };
  const a = new CachedIdentityStore(shared, bus, options);
  const b = new CachedIdentityStore(shared, bus, options);

  t.equal(await a.userOf('s1'), null);
  await waitFor('a to remember s1', async () => {
    const before = shared.lookups;
    await a.userOf('s1');
    return shared.lookups === before;
  });
  const settled = shared.lookups;
  for (let i = 0; i < 5; i++) t.equal(await a.userOf('s1'), null);
  t.equal(shared.lookups, settled, 'no more lookups for a remembered session');

  await b.link('s1', 'u1');
  await waitFor('a to follow the link b made', async () => (await a.userOf('s1')) === 'u1');
  t.equal(shared.lookups, settled, 'learned from the bus, not by asking');
  t.equal(await b.userOf('s1'), 'u1');

  t.strictSame(await b.unlinkUser('u1'), ['s1']);
  await waitFor('a to forget the erased link', async () => (await a.userOf('s1')) === null);
});

t.test('without the bus a remembered answer lasts the TTL only', async (t) => {
  const shared = counted(new MemoryIdentityStore());
  const a = new CachedIdentityStore(shared, new MemoryNodeBus(), { max: 100, ttlMs: 50, onError: (err) => t.error(err) });
  await a.userOf('s2');
  // Linked behind the cache's back (a bus message lost): the TTL ends the stale answer.
  await shared.link('s2', 'u2');
  await waitFor('the stale answer to lapse', async () => (await a.userOf('s2')) === 'u2');
});

t.test('two nodes on a real Redis: a link made on one is followed by the other', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const a = await createRedisStores({ url: redis.url, shardCount: 8 });
  t.teardown(() => a.close());
  const b = await createRedisStores({ url: redis.url, shardCount: 8 });
  t.teardown(() => b.close());
  t.equal(await a.identities.userOf('s3'), null);
  t.equal(await a.identities.userOf('s3'), null);
  await b.identities.link('s3', 'u3');
  await waitFor('a to follow the link', async () => (await a.identities.userOf('s3')) === 'u3');
  t.strictSame(await a.identities.sessionsOf('u3'), ['s3']);
  await b.identities.unlinkUser('u3');
  await waitFor('a to follow the erasure', async () => (await a.identities.userOf('s3')) === null);
});
