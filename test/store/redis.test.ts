import t from 'tap';
import { Redis } from 'ioredis';
import type { NewLogEntry } from '../../src/actors/events.js';
import { createRedisStores, parseRedisUrl, parseSeed, redactUrl, RedisKeyspace, type RedisStoresOptions } from '../../src/store/redis/index.js';
import { shardOf } from '../../src/store/shard.js';
import { StoreUnavailableError, type Stores } from '../../src/store/types.js';
import { waitFor } from '../helpers.js';
import { clusterSupported, freePort, startCluster, startRedis } from '../support/redis-server.js';
import { storeConformance } from './conformance.js';
import { leaseConformance } from './leases-conformance.js';

// Each store set gets its own key prefix, so cases never see each other's keys or epochs.
let prefixes = 0;
const fresh = (options: Omit<RedisStoresOptions, 'shardCount'>, shardCount = 16) => (): Promise<Stores> =>
  createRedisStores({ ...options, shardCount, keyPrefix: `t${++prefixes}` });

const entry: NewLogEntry = { kind: 'interaction', sessionId: 'sess', eventType: 'view', itemId: 'A', sentAt: 1, receivedAt: 1 };

const server = await startRedis();
t.teardown(() => server.stop());

storeConformance(t, 'redis', fresh({ url: server.url }));
leaseConformance(t, 'redis', fresh({ url: server.url }));

t.test('key layout', async (t) => {
  const keyspace = new RedisKeyspace('attune', 256);
  const shard = shardOf('s:abc', 256);
  t.equal(keyspace.log('s:abc'), `attune:{${shard}}:log:s:abc`);
  t.equal(keyspace.snapshot('s:abc'), `attune:{${shard}}:snap:s:abc`);
  t.equal(keyspace.identity('abc'), `attune:{${shard}}:ident:abc`, 'a session\'s identity lives with its session actor');
  t.equal(keyspace.lease(shard), `attune:{${shard}}:lease`);
  t.throws(() => new RedisKeyspace('a{b}', 4), RangeError, 'a brace in the prefix would become the hash tag');
  await t.rejects(createRedisStores({ url: server.url, keyPrefix: '', shardCount: 4 }), RangeError);
});

t.test('redis URLs, passwords and cluster seeds', async (t) => {
  t.strictSame(parseRedisUrl('rediss://app:p%40ss@cache.example.com:6380/2'), { host: 'cache.example.com', port: 6380, username: 'app', password: 'p@ss', db: 2, tls: true });
  t.strictSame(parseRedisUrl('redis://:secret@localhost'), { host: 'localhost', port: 6379, password: 'secret', tls: false });
  t.strictSame(parseRedisUrl('redis://[::1]:7000'), { host: '::1', port: 7000, tls: false });
  t.strictSame(parseRedisUrl('redis://h:1', { password: 'override', tls: true }), { host: 'h', port: 1, password: 'override', tls: true });
  t.strictSame(parseRedisUrl('rediss://:urlpass@h:1', { tls: false }), { host: 'h', port: 1, password: 'urlpass', tls: false });
  t.throws(() => parseRedisUrl('http://h:1'), new RangeError('redis URL must start with redis:// or rediss://, got http://h:1'));
  t.throws(() => parseRedisUrl('redis://:pw@h:1/zero'), new RangeError('redis URL database must be a number, got "zero"'));
  t.throws(() => parseRedisUrl('not a url :pw@'), RangeError);
  t.equal(redactUrl('rediss://user:hunter2@h:6380/0'), 'rediss://user:***@h:6380/0');
  t.strictSame(parseSeed('10.0.0.5:7001'), { host: '10.0.0.5', port: 7001 });
  t.strictSame(parseSeed('[fe80::1]:7002'), { host: 'fe80::1', port: 7002 });
  t.throws(() => parseSeed('10.0.0.5'), new RangeError('cluster seed must be host:port, got "10.0.0.5"'));
  await t.rejects(createRedisStores({ url: server.url, cluster: ['127.0.0.1:1'], shardCount: 4 }), new RangeError('give either a redis url or cluster seeds, not both'));
});

t.test('a password-protected redis: the URL\'s password or the password option', async (t) => {
  const secured = await startRedis({ password: 's3cr/t@' });
  t.teardown(() => secured.stop());
  t.equal(secured.url, `redis://:s3cr%2Ft%40@127.0.0.1:${secured.port}`);
  const bare = `redis://127.0.0.1:${secured.port}`;

  const viaUrl = await fresh({ url: secured.url })();
  t.teardown(() => viaUrl.close());
  const appended = await viaUrl.log.append('s:a', entry);
  t.strictSame(await viaUrl.log.read('s:a', null), [appended]);

  const viaOption = await fresh({ url: bare, password: 's3cr/t@' })();
  t.teardown(() => viaOption.close());
  t.equal(await viaOption.identities.userOf('nobody'), null);

  // ioredis 6 opens with HELLO 3, so the refusal reads "NOAUTH HELLO must be called..." rather than "NOAUTH Authentication required."
  await t.rejects(fresh({ url: bare })(), { name: 'StoreUnavailableError', message: new RegExp(`^could not connect to redis at ${bare}: NOAUTH `) });
  await t.rejects(fresh({ url: bare, password: 'wrong' })(), { name: 'StoreUnavailableError', message: /^could not connect to redis at redis:\/\/127\.0\.0\.1:\d+: WRONGPASS/ });
});

t.test('rediss:// with a password: TLS to a redis-server with a private CA', async (t) => {
  const secured = await startRedis({ tls: true, password: 'pw' });
  t.teardown(() => secured.stop());
  t.equal(secured.url, `rediss://:pw@127.0.0.1:${secured.port}`);
  const stores = await fresh({ url: secured.url, ...(secured.tlsCa === undefined ? {} : { tlsCa: secured.tlsCa }) })();
  t.teardown(() => stores.close());
  const appended = await stores.log.append('s:tls', entry);
  t.strictSame(await stores.log.read('s:tls', null), [appended]);
  await t.rejects(fresh({ url: secured.url, connectTimeoutMs: 1000 })(), { name: 'StoreUnavailableError', message: /^could not connect to redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+: self[- ]signed certificate/ }, 'an untrusted certificate is refused');
});

t.test('no redis at the address: connecting fails within the connect timeout', async (t) => {
  const url = `redis://127.0.0.1:${await freePort()}`;
  await t.rejects(fresh({ url, connectTimeoutMs: 500 })(), { name: 'StoreUnavailableError', message: new RegExp(`^could not connect to redis at ${url}: `) });
});

t.test('redis stops mid-test: operations reject with a retryable error, then recover on restart', async (t) => {
  const flaky = await startRedis();
  t.teardown(() => flaky.stop());
  const stores = await fresh({ url: flaky.url, commandTimeoutMs: 300 })();
  t.teardown(() => stores.close());
  await stores.log.append('s:a', entry);
  t.equal(await stores.leases.acquire(0, 'node-a', 100), null, 'a shard with no record is quarantined for one TTL');
  await waitFor('the quarantine to end', async () => (await stores.leases.acquire(0, 'node-a', 60_000)) !== null);
  const before = (await stores.leases.holder(0))?.epoch ?? 0;
  t.ok(before > Date.now() * 1000 - 60_000_000, `epochs start at the store's clock in microseconds (${before})`);

  await flaky.stop();
  const down = { name: 'StoreUnavailableError', retryable: true, message: /unavailable: append failed: / };
  await t.rejects(stores.log.append('s:a', entry), down);
  await t.rejects(stores.log.read('s:a', null), { ...down, message: /unavailable: read failed: not connected \(/ });
  await t.rejects(stores.leases.acquire(0, 'node-a', 1000), { ...down, message: /lease acquire failed/ });
  await t.rejects(stores.snapshots.put({ key: 's:a', lastEventId: '1-0', bytes: new Uint8Array([1]) }), StoreUnavailableError);

  await flaky.restart();
  await waitFor('the client to reconnect', () => stores.identities.userOf('x').then(() => true, () => false), 10_000);
  const after = await stores.log.append('s:a', entry);
  t.strictSame(await stores.log.read('s:a', null), [after], 'the restarted redis kept nothing (no persistence); the log works again');
  t.equal(await stores.leases.acquire(0, 'node-a', 100), null, 'scripts are loaded again after the restart; the emptied store quarantines the shard');
  t.equal(await stores.leases.acquire(0, 'node-b', 100), null, 'for every node');
  await waitFor('the quarantine to end', async () => (await stores.leases.acquire(0, 'node-b', 1000)) !== null);
  const epochAfter = (await stores.leases.holder(0))?.epoch ?? 0;
  t.ok(epochAfter > before, `the epoch after the restart (${epochAfter}) exceeds the one before (${before}), though the counter was lost`);
});

t.test('redis catalog: a copy older than the change log reaches must re-read everything', async (t) => {
  const stores = await createRedisStores({ url: server.url, shardCount: 16, keyPrefix: 'trim-test' });
  t.teardown(() => stores.close());
  for (const itemId of ['a', 'b', 'c']) await stores.catalog.upsert([{ itemId }]);
  const keyspace = new RedisKeyspace('trim-test', 16);
  const client = new Redis(server.port, '127.0.0.1');
  t.teardown(() => client.disconnect());
  t.equal(await client.xlen(keyspace.catalogChanges), 3);
  await client.xtrim(keyspace.catalogChanges, 'MAXLEN', 2);
  t.strictSame(await stores.catalog.changesSince(1), { version: 3, itemIds: ['b', 'c'] });
  t.equal(await stores.catalog.changesSince(0), null, 'the first write is no longer logged');
});

t.test('a paused redis: commands time out instead of hanging, and work once it resumes', async (t) => {
  const paused = await startRedis();
  t.teardown(() => paused.stop());
  const stores = await fresh({ url: paused.url, commandTimeoutMs: 300 })();
  t.teardown(() => stores.close());
  await stores.identities.link('s1', 'ann');

  paused.kill('SIGSTOP');
  t.teardown(() => paused.kill('SIGCONT'));
  await t.rejects(stores.identities.userOf('s1'), { name: 'StoreUnavailableError', message: /unavailable: identity get failed: (Command timed out|no answer within 300 ms)$/ });
  paused.kill('SIGCONT');
  await waitFor('answers after SIGCONT', () => stores.identities.userOf('s1').then((user) => user === 'ann', () => false));
  t.equal(await stores.identities.userOf('s1'), 'ann');
});

const cluster = await clusterSupported();
t.test('a three-master redis cluster', { skip: cluster ? false : 'redis-server lacks cluster support (cluster-enabled yes is refused)' }, async (t) => {
  const nodes = await startCluster(3);
  t.teardown(() => nodes.stop());
  const onCluster = fresh({ cluster: nodes.seeds }, 64);

  storeConformance(t, 'redis cluster', onCluster);
  leaseConformance(t, 'redis cluster', onCluster);

  t.test('one shard\'s keys share a slot', async (t) => {
    const client = new Redis(nodes.nodes[0].port, '127.0.0.1');
    t.teardown(() => client.disconnect());
    const keyspace = new RedisKeyspace('attune', 256);
    const slot = (key: string) => client.cluster('KEYSLOT', key);
    for (const sessionId of ['abc', 'ünï', '{x}']) {
      const key = `s:${sessionId}`;
      const shard = shardOf(key, 256);
      const keys = [keyspace.log(key), keyspace.logKeys(shard), keyspace.snapshot(key), keyspace.identity(sessionId), keyspace.lease(shard), keyspace.epoch(shard)];
      const slots = await Promise.all(keys.map(slot));
      t.equal(new Set(slots).size, 1, keys.join(', '));
      t.not(await slot(keyspace.lease((shard + 1) % 256)), slots[0], 'the next shard hashes elsewhere');
    }
  });

  t.test('shards spread over every master', async (t) => {
    const stores = await onCluster();
    t.teardown(() => stores.close());
    for (let i = 0; i < 64; i++) await stores.log.append(`s:${i}`, entry);
    t.equal((await stores.log.keys('s:')).length, 64);
    const sizes = await Promise.all(
      nodes.nodes.map(async (node) => {
        const client = new Redis(node.port, '127.0.0.1');
        try {
          return await client.dbsize();
        } finally {
          client.disconnect();
        }
      }),
    );
    t.ok(sizes.every((size) => size > 0), `keys on every master: ${sizes.join(', ')}`);
  });
});
