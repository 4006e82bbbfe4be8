import t from 'tap';
import { Redis } from 'ioredis';
import { RedisSharedLayer } from '../../src/cache/redis-shared-layer.js';
import { MemorySharedLayer, parseInvalidation, type InvalidationMessage } from '../../src/cache/shared-layer.js';
import { waitFor } from '../helpers.js';
import { clusterSupported, startCluster } from '../support/redis-cluster.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { memoryWorld, redisWorld, sharedLayerConformance } from './shared-layer-conformance.js';

sharedLayerConformance(t, 'memory', memoryWorld);

t.test('memory: expiry follows the injected clock', async (t) => {
  let clock = 1_000;
  const layer = new MemorySharedLayer(() => clock);
  await layer.set('k', new Uint8Array([1]), 100, 50);
  t.strictSame(await layer.get('k'), { value: new Uint8Array([1]), storedAt: 1_000, freshUntil: 1_100, staleUntil: 1_150 });
  clock = 1_149;
  t.not(await layer.get('k'), null, 'stale, still readable');
  clock = 1_150;
  t.equal(await layer.get('k'), null, 'gone at staleUntil');
  t.not((await layer.getOrLock('k', 10)).lock, null);
  clock = 1_159;
  t.equal((await layer.getOrLock('k', 10)).lock, null);
  clock = 1_160;
  t.not((await layer.getOrLock('k', 10)).lock, null, 'a lock expires at its ttl');
  const value = new Uint8Array([5]);
  await layer.set('copy', value, 100, 0);
  value[0] = 6;
  t.strictSame(Array.from((await layer.get('copy'))?.value ?? []), [5], 'the layer keeps a copy, as a network store would');
  const read = await layer.getOrLock('copy', 10);
  if (read.entry === null) throw new Error('entry missing');
  read.entry.value[0] = 7;
  t.strictSame(Array.from((await layer.get('copy'))?.value ?? []), [5], 'and hands out copies');
});

t.test('invalidation payloads from the network are checked field by field', async (t) => {
  t.strictSame(parseInvalidation({ keys: ['a'], prefixes: [], items: ['i'], origin: 'o' }), { keys: ['a'], prefixes: [], items: ['i'], origin: 'o' });
  t.strictSame(parseInvalidation({ keys: ['a'], future: 1 }), { keys: ['a'] }, 'unknown fields are dropped');
  t.equal(parseInvalidation({ keys: [1] }), null);
  t.equal(parseInvalidation({ keys: 'a' }), null);
  t.equal(parseInvalidation({ origin: 5 }), null);
  t.equal(parseInvalidation(['a']), null);
  t.equal(parseInvalidation(null), null);
});

const server = await startRedis();
t.teardown(() => server.stop());

sharedLayerConformance(t, 'redis', redisWorld({ url: server.url }));

t.test('redis: key layout, expiry by PEXPIRE, and malformed messages ignored', async (t) => {
  const layer = await RedisSharedLayer.open({ url: server.url, keyPrefix: 'layout' });
  t.teardown(() => layer.close());
  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());

  t.equal(layer.entryKey('popular:all'), 'layout:cache:{#popular:all}');
  t.equal(layer.lockKey('popular:all'), 'layout:cache-lock:{#popular:all}');
  t.equal(layer.entryKey('a}b'), 'layout:cache:{#a}b}', 'the tag of both is the text between the first { and the next }: #a');
  t.equal(layer.channel, 'layout:cache:invalidate');
  t.throws(() => new RedisSharedLayer(null as never, raw, { keyPrefix: 'a{b}' }), RangeError, 'a brace in the prefix would become a hash tag');

  await layer.set('popular:all', new Uint8Array([1, 2]), 1_000, 9_000);
  const stored = await layer.get('popular:all');
  const payload = await raw.getBuffer('layout:cache:{#popular:all}');
  t.strictSame(payload, Buffer.concat([Buffer.from(`${stored?.storedAt} ${stored?.freshUntil} ${stored?.staleUntil}\n`), Buffer.from([1, 2])]), 'one string: the times, a newline, the bytes');
  await raw.set('layout:cache:{#bad}', 'no header');
  t.equal(await layer.get('bad'), null, 'a string that is not an entry reads as none');
  t.strictSame((await layer.getOrLock('bad', 1_000)).entry, null, 'for getOrLock too');
  await raw.del('layout:cache:{#bad}', 'layout:cache-lock:{#bad}');
  const ttl = await raw.pttl('layout:cache:{#popular:all}');
  t.ok(ttl > 9_000 && ttl <= 10_000, `the entry expires after freshMs + staleMs (pttl ${ttl})`);
  const { lock } = await layer.getOrLock('popular:none', 5_000);
  const lockTtl = await raw.pttl('layout:cache-lock:{#popular:none}');
  t.ok(lockTtl > 4_000 && lockTtl <= 5_000, `the lock expires after its ttl (pttl ${lockTtl})`);
  await layer.setAndUnlock('popular:none', new Uint8Array([3]), 2_000, 0, lock ?? '');
  t.equal(await raw.exists('layout:cache-lock:{#popular:none}'), 0, 'setAndUnlock deleted the lock');
  const entryTtl = await raw.pttl('layout:cache:{#popular:none}');
  t.ok(entryTtl > 1_000 && entryTtl <= 2_000, `and set the entry's expiry (pttl ${entryTtl})`);
  t.strictSame((await raw.keys('layout:*')).sort(), ['layout:cache:{#popular:all}', 'layout:cache:{#popular:none}'], 'nothing else');

  const got: InvalidationMessage[] = [];
  await layer.subscribeInvalidations((m) => got.push(m));
  await raw.publish('layout:cache:invalidate', 'not json');
  await raw.publish('layout:cache:invalidate', JSON.stringify({ keys: 'not-a-list' }));
  await raw.publish('other:cache:invalidate', JSON.stringify({ keys: ['other deployment'] }));
  await raw.publish('layout:cache:invalidate', JSON.stringify({ keys: ['ok'] }));
  await waitFor('the well-formed message', () => got.length > 0);
  t.strictSame(got, [{ keys: ['ok'] }], 'only the well-formed message of this prefix is delivered');
});

t.test('redis down: every operation rejects with StoreUnavailableError, and works again after a restart', async (t) => {
  const flaky = await startRedis();
  t.teardown(() => flaky.stop());
  const layer = await RedisSharedLayer.open({ url: flaky.url, keyPrefix: 'down', commandTimeoutMs: 300 });
  t.teardown(() => layer.close());
  const got: InvalidationMessage[] = [];
  await layer.subscribeInvalidations((m) => got.push(m));
  await layer.set('k', new Uint8Array([1]), 60_000, 0);

  await flaky.stop();
  const down = { name: 'StoreUnavailableError', message: /unavailable: cache / };
  await t.rejects(layer.get('k'), down);
  await t.rejects(layer.set('k', new Uint8Array([2]), 60_000, 0), down);
  await t.rejects(layer.delete(['k']), down);
  await t.rejects(layer.deletePrefix('k'), down);
  await t.rejects(layer.getOrLock('k', 1_000), down);
  await t.rejects(layer.setAndUnlock('k', new Uint8Array([2]), 60_000, 0, 'token'), down);
  await t.rejects(layer.unlock('k', 'token'), down);
  await t.rejects(layer.publishInvalidation({ keys: ['k'] }), down);

  await flaky.restart();
  await waitFor('the client to reconnect', () => layer.get('k').then(() => true, () => false), 10_000);
  t.equal(await layer.get('k'), null, 'the restarted redis kept nothing');
  const { lock } = await layer.getOrLock('k', 1_000);
  t.not(lock, null, 'scripts and locks work again');
  t.equal(await layer.unlock('k', 'wrong'), false, 'the unlock script is loaded again');
  t.equal(await layer.setAndUnlock('k', new Uint8Array([3]), 60_000, 0, lock ?? ''), true, 'and the store scripts');
  await waitFor('the subscriber to resubscribe', async () => {
    await layer.publishInvalidation({ keys: ['after-restart'] });
    return got.length > 0;
  }, 10_000);
  t.strictSame(got[0], { keys: ['after-restart'] }, 'the subscription is restored after the restart');
});

const cluster = await clusterSupported();
t.test('a three-master redis cluster', { skip: cluster ? false : 'redis-server lacks cluster support (cluster-enabled yes is refused)' }, async (t) => {
  const nodes = await startCluster(3);
  t.teardown(() => nodes.stop());
  const onCluster = redisWorld({ cluster: nodes.seeds });

  sharedLayerConformance(t, 'redis cluster', onCluster);

  t.test('entries spread over every master; a prefix delete reaches them all', async (t) => {
    const layer = await RedisSharedLayer.open({ cluster: nodes.seeds, keyPrefix: 'spread' });
    t.teardown(() => layer.close());
    for (let i = 0; i < 60; i++) await layer.set(`k:${i}`, new Uint8Array([i]), 60_000, 0);
    const perMaster = async (): Promise<number[]> =>
      Promise.all(
        nodes.nodes.map(async (node) => {
          const client = new Redis(node.port, '127.0.0.1');
          try {
            return (await client.keys('spread:cache:{#k:*')).length;
          } finally {
            client.disconnect();
          }
        }),
      );
    const before = await perMaster();
    t.ok(before.every((count) => count > 0), `entries on every master: ${before.join(', ')}`);
    t.equal(await layer.deletePrefix('k:'), 60);
    t.strictSame(await perMaster(), [0, 0, 0], 'none left on any master');
    await layer.set('a', new Uint8Array([1]), 60_000, 0);
    await layer.set('b', new Uint8Array([2]), 60_000, 0);
    await layer.delete(['a', 'b']);
    t.equal(await layer.get('a'), null, 'a multi-key delete across slots works');

    const raw = new Redis(nodes.nodes[0].port, '127.0.0.1');
    t.teardown(() => raw.disconnect());
    const slot = async (name: string): Promise<number> => Number(await raw.call('CLUSTER', 'KEYSLOT', name));
    const slots = new Set<number>();
    for (const key of ['popular:all', 'k:1', 'k:2', '', '}', '}x', '{', 'a}b{c}', '{popular}:a']) {
      const entrySlot = await slot(layer.entryKey(key));
      t.equal(await slot(layer.lockKey(key)), entrySlot, `"${key}": entry and lock in one slot`);
      slots.add(entrySlot);
    }
    t.ok(slots.size > 5, `different keys, different slots (${slots.size} slots for 9 keys)`);
  });
});
