import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { InteractionEntry } from '../../src/session/events.js';
import { createPayloadCipher, type PayloadCipher } from '../../src/store/payload-cipher.js';
import { createRedisStores, parseBusMessage, parseRedisUrl, parseSeed, redactUrl, RedisKeyspace, type RedisStoresOptions } from '../../src/store/redis/index.js';
import { shardOf } from '../../src/store/shard.js';
import { DELETION_JOB_TTL_MS, StoreUnavailableError, type BusMessage, type Stores } from '../../src/store/types.js';
import { waitFor } from '../helpers.js';
import { clusterSupported, startCluster } from '../support/redis-cluster.js';
import { freePort } from '../../scripts/harness/ports.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { storeConformance } from './conformance.js';
import { leaseConformance } from './leases-conformance.js';
import { modelRegistryConformance } from './models-conformance.js';

// Each store set gets its own key prefix, so cases never see each other's keys or epochs.
let prefixes = 0;
const optionsOf = new WeakMap<Stores, RedisStoresOptions>();
const fresh = (options: Omit<RedisStoresOptions, 'shardCount'>, shardCount = 16) => async (): Promise<Stores> => {
  const full = { ...options, shardCount, keyPrefix: `t${++prefixes}` };
  const stores = await createRedisStores(full);
  optionsOf.set(stores, full);
  return stores;
};
/** Another node's stores over the same Redis and prefix. */
const peer = async (stores: Stores): Promise<Stores> => {
  const options = optionsOf.get(stores);
  if (options === undefined) throw new Error('stores not made by fresh()');
  return createRedisStores(options);
};
const prefixOf = (stores: Stores): string => optionsOf.get(stores)?.keyPrefix ?? 'attune';
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const newCipher = (id: string): PayloadCipher => {
  const cipher = createPayloadCipher([`${id}:${randomBytes(32).toString('base64')}`]);
  if (cipher === null) throw new Error('expected a cipher');
  return cipher;
};

const entry: Omit<InteractionEntry, 'eventId'> = { kind: 'interaction', sessionId: 'sess', eventType: 'view', itemId: 'A', sentAt: 1, receivedAt: 1 };

const server = await startRedis();
t.teardown(() => server.stop());

storeConformance(t, 'redis', fresh({ url: server.url }), { peer });
storeConformance(t, 'redis encrypted', fresh({ url: server.url, cipher: newCipher('k1') }), { peer });
leaseConformance(t, 'redis', fresh({ url: server.url }));
modelRegistryConformance(t, 'redis', fresh({ url: server.url }), peer);

t.test('key layout', async (t) => {
  const keyspace = new RedisKeyspace('attune', 256);
  const shard = shardOf('s:abc', 256);
  t.equal(keyspace.log('s:abc'), `attune:{${shard}}:log:s:abc`);
  t.equal(keyspace.snapshot('s:abc'), `attune:{${shard}}:snap:s:abc`);
  t.equal(keyspace.identity('abc'), `attune:{${shard}}:ident:abc`, 'a session\'s identity lives with its session actor');
  t.equal(keyspace.lease(shard), `attune:{${shard}}:lease`);
  const userShard = shardOf('u:ann', 256);
  t.equal(keyspace.user('ann'), `attune:{${userShard}}:user:ann`);
  t.equal(keyspace.sessionsOf('ann'), `attune:{${userShard}}:sessions:ann`, 'the reverse index lives with the user actor');
  t.equal(keyspace.optOut('ann'), `attune:{${userShard}}:optout:ann`);
  t.equal(keyspace.apiKeys, 'attune:apikeys');
  t.equal(keyspace.filters, 'attune:filters');
  t.strictSame([keyspace.modelEntries, keyspace.modelStates, keyspace.modelLive], ['attune:{models}:entries', 'attune:{models}:states', 'attune:{models}:live'], 'the registry\'s keys share a slot');
  t.equal(keyspace.audit, 'attune:audit');
  t.equal(keyspace.bus, 'attune:bus');
  t.equal(keyspace.deletionJob('j1'), 'attune:deletion-job:j1');
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

/**
 * Every key of the prefix whose name or value (read raw, by type) contains any of `needles`,
 * as `key (type)`. `clients`: one per master; SCAN sees only the keys of the node it runs on.
 */
async function keysHolding(clients: Redis[], prefix: string, needles: string[]): Promise<string[]> {
  const found: string[] = [];
  const holds = (buffers: Buffer[]): boolean => buffers.some((buffer) => needles.some((needle) => buffer.includes(Buffer.from(needle))));
  for (const client of clients) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scanBuffer(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next.toString();
      for (const key of keys) {
        const type = await client.type(key);
        const read: Record<string, () => Promise<unknown>> = {
          string: () => client.getBuffer(key),
          hash: () => client.callBuffer('HGETALL', key),
          stream: () => client.callBuffer('XRANGE', key, '-', '+'),
          set: () => client.callBuffer('SMEMBERS', key),
          zset: () => client.callBuffer('ZRANGE', key, '0', '-1', 'WITHSCORES'),
          list: () => client.callBuffer('LRANGE', key, '0', '-1'),
        };
        const reader = read[type];
        if (reader === undefined) throw new Error(`unexpected type ${type} of ${key.toString()}`);
        if (holds([key, ...buffersIn(await reader())])) found.push(`${key.toString()} (${type})`);
      }
    } while (cursor !== '0');
  }
  return found.sort();
}

/** Every Buffer (or string) in a raw reply, however it nests (RESP2 arrays, RESP3 maps). */
function buffersIn(reply: unknown): Buffer[] {
  if (Buffer.isBuffer(reply)) return [reply];
  if (typeof reply === 'string') return [Buffer.from(reply)];
  if (Array.isArray(reply)) return reply.flatMap(buffersIn);
  if (reply instanceof Map) return [...reply.entries()].flatMap(buffersIn);
  if (typeof reply === 'object' && reply !== null) return Object.entries(reply).flatMap(buffersIn);
  return [];
}

/** A user's data in every store, then the deletion methods: no key name or value names the user or their sessions. */
async function erasureLeavesNoTrace(t: Test, createStores: () => Promise<Stores>, ports: number[]): Promise<void> {
  const stores = await createStores();
  t.teardown(() => stores.close());
  const clients = ports.map((port) => new Redis(port, '127.0.0.1'));
  t.teardown(() => clients.forEach((client) => client.disconnect()));
  const prefix = prefixOf(stores);
  const shard = (key: string) => shardOf(key, stores.shardCount);

  const userId = 'erin-7f3a9';
  const sessions = ['tab-91c2e', 'tab-4d5e0'];
  const other = { userId: 'olaf-00b1c', session: 'tab-zz881' };
  const needles = [userId, ...sessions];
  const actorsOf = (user: string, sessionIds: string[]) => [`u:${user}`, ...sessionIds.map((sessionId) => `s:${sessionId}`)];

  for (const [user, sessionIds] of [[userId, sessions], [other.userId, [other.session]]] as const) {
    for (const [i, key] of actorsOf(user, [...sessionIds]).entries()) {
      const sessionId = sessionIds[Math.max(0, i - 1)];
      const appended = await stores.log.append(key, { ...entry, sessionId, userId: user, itemId: `item-${i}` });
      await stores.pushes.record(key, { at: 1, cause: appended.eventId, items: ['item-0'], modelVersion: 'm1', recommendationId: `rec-${key}` });
      await stores.snapshots.put({ key, lastEventId: appended.eventId, bytes: packr.pack({ v: 1, key, userId: user, state: {} }) });
      await stores.mailbox.notify(shard(key), key, 60_000);
    }
    for (const sessionId of sessionIds) await stores.identities.link(sessionId, user);
    await stores.users.put([{ userId: user, attributes: { TIER: 'gold' } }]);
    await stores.consent.setOptedOut(user, true);
  }
  await stores.apiKeys.create({ id: 'k1', name: 'admin', roles: ['admin'], hash: '0'.repeat(64), createdAt: 1, revokedAt: null });
  await stores.deletionJobs.put({ id: 'job-1', state: 'running', requestedAt: 1, finishedAt: null, keysErased: 0 });
  await stores.audit.record({ at: 1, actor: 'k1', action: 'user.delete', target: 'job-1', outcome: 'ok' });
  const before = await keysHolding(clients, prefix, needles);
  t.ok(before.length >= 10, `the scan finds the user's data before the erasure: ${before.join(', ')}`);

  const linked = await stores.identities.unlinkUser(userId);
  t.strictSame(linked, [...sessions].sort());
  for (const key of actorsOf(userId, linked)) {
    await stores.log.delete(key);
    await stores.pushes.delete(key);
    await stores.snapshots.delete(key);
    await stores.mailbox.discard(shard(key), key);
  }
  await stores.users.delete(userId);
  await stores.consent.delete(userId);
  await stores.deletionJobs.put({ id: 'job-1', state: 'done', requestedAt: 1, finishedAt: 2, keysErased: 3 });
  await stores.audit.record({ at: 2, actor: 'k1', action: 'user.delete', target: 'job-1', outcome: 'ok' });

  t.strictSame(await keysHolding(clients, prefix, needles), [], 'no key name or value holds the user id or a session id');
  const otherActors = actorsOf(other.userId, [other.session]);
  t.strictSame((await stores.log.keys('')).sort(), otherActors.sort(), 'only the other user\'s logs are left');
  t.equal(await stores.identities.userOf(other.session), other.userId);
  t.strictSame(await stores.users.get(other.userId), { TIER: 'gold', USER_ID: other.userId });
  t.equal(await stores.consent.isOptedOut(other.userId), true);
  for (const key of otherActors) {
    t.equal((await stores.log.read(key, null)).length, 1);
    t.equal((await stores.pushes.read(key)).length, 1);
    t.not(await stores.snapshots.get(key), null);
  }
  t.ok((await keysHolding(clients, prefix, [other.userId])).length >= 10, 'the other user\'s data is all there');
  const woken: string[] = [];
  const unsubscribe = await stores.mailbox.subscribe(shard(`u:${other.userId}`), 60_000, (key) => woken.push(key));
  await waitFor('the other user\'s kept note', () => woken.includes(`u:${other.userId}`));
  await unsubscribe();
}

t.test('appendOnce: a new id costs three commands; a duplicate writes nothing, and never brings a deleted log back', async (t) => {
  const stores = await fresh({ url: server.url })();
  t.teardown(() => stores.close());
  const keyspace = new RedisKeyspace(prefixOf(stores), 16);
  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());
  const calls = async (): Promise<Map<string, number>> => {
    const stats = await raw.info('commandstats');
    return new Map([...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  };
  const first = await stores.log.appendOnce('s:cost', entry, 'e-1', 60_000);
  const before = await calls();
  const second = await stores.log.appendOnce('s:cost', entry, 'e-2', 60_000, first.eventId);
  const after = await calls();
  t.strictSame([second.duplicate, second.follows], [false, true]);
  const spent = Object.fromEntries(['xrevrange', 'xadd', 'set', 'get', 'sadd', 'xdel'].map((c) => [c, (after.get(c) ?? 0) - (before.get(c) ?? 0)]));
  t.strictSame(spent, { xrevrange: 1, xadd: 1, set: 1, get: 0, sadd: 0, xdel: 0 }, 'no GET before the append');

  t.strictSame(await stores.log.appendOnce('s:cost', entry, 'e-2', 60_000), { eventId: second.eventId, duplicate: true, follows: false });
  t.equal(await raw.xlen(keyspace.log('s:cost')), 2, 'the duplicate\'s entry is gone');
  await stores.log.delete('s:cost');
  t.strictSame(await stores.log.appendOnce('s:cost', entry, 'e-2', 60_000), { eventId: second.eventId, duplicate: true, follows: false }, 'still remembered within the window');
  t.equal(await raw.exists(keyspace.log('s:cost')), 0, 'the deleted log is not created again');
  t.strictSame(await stores.log.keys('s:cost'), []);
});

t.test('erasing a user leaves no key name or value that names them', async (t) => {
  await erasureLeavesNoTrace(t, fresh({ url: server.url }), [server.port]);
});

t.test('bus: malformed messages on the channel are ignored', async (t) => {
  const stores = await fresh({ url: server.url })();
  t.teardown(() => stores.close());
  const got: BusMessage[] = [];
  await stores.bus.subscribe((message) => got.push(message));
  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());
  const channel = `${prefixOf(stores)}:bus`;
  for (const junk of ['not json', 'null', '[]', '42', '{"type":"nope"}', '{"type":"forget","keys":[1]}', '{"type":"forget"}', '{"type":"consent","userId":"u","optedOut":"yes"}', '{"type":"key-revoked"}']) {
    await raw.publish(channel, junk);
  }
  await raw.publish(channel, JSON.stringify({ type: 'key-revoked', keyId: 'k1', extra: 'dropped' }));
  await waitFor('the well-formed message', () => got.length > 0);
  await new Promise((r) => setTimeout(r, 30));
  t.strictSame(got, [{ type: 'key-revoked', keyId: 'k1' }], 'only the well-formed one, with its known fields only');
  t.strictSame(parseBusMessage('{"type":"forget","keys":["u:a"]}'), { type: 'forget', keys: ['u:a'] });
  t.strictSame(parseBusMessage('{"type":"consent","userId":"u","optedOut":false}'), { type: 'consent', userId: 'u', optedOut: false });
  t.strictSame(parseBusMessage('{"type":"models-changed","live":"m-1"}'), { type: 'models-changed', live: 'm-1' });
  t.strictSame(parseBusMessage('{"type":"models-changed","live":null}'), { type: 'models-changed', live: null });
  t.equal(parseBusMessage('{"type":"models-changed","live":3}'), null);
  t.strictSame(parseBusMessage('{"type":"events-accepted","nodeId":"n1","count":12}'), { type: 'events-accepted', nodeId: 'n1', count: 12 });
  t.equal(parseBusMessage('{"type":"events-accepted","nodeId":"n1","count":0}'), null);
  t.equal(parseBusMessage('{"type":"events-accepted","nodeId":"n1","count":1.5}'), null);
  t.strictSame(parseBusMessage('{"type":"retrain-started","nodeId":"n1","jobId":"j","at":5}'), { type: 'retrain-started', nodeId: 'n1', jobId: 'j', at: 5 });
  t.equal(parseBusMessage('{"type":"retrain-started","nodeId":"n1","at":5}'), null);
});

t.test('deletion jobs and the audit stream: the job expires by PX, the audit stream is capped', async (t) => {
  const stores = await fresh({ url: server.url })();
  t.teardown(() => stores.close());
  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());
  const prefix = prefixOf(stores);
  await stores.deletionJobs.put({ id: 'j', state: 'running', requestedAt: 1, finishedAt: null, keysErased: 0 });
  const ttl = await raw.pttl(`${prefix}:deletion-job:j`);
  t.ok(ttl > DELETION_JOB_TTL_MS - 60_000 && ttl <= DELETION_JOB_TTL_MS, `PTTL ${ttl}`);
  await stores.audit.record({ at: 1, actor: 'master', action: 'key.create', target: 'k', outcome: 'ok' });
  t.equal(await raw.type(`${prefix}:audit`), 'stream');
  t.equal(await raw.hlen(`${prefix}:apikeys`), 0);
});

t.test('encryption at rest: no raw value shows a payload, reads are exact, plaintext from before stays readable', async (t) => {
  const cipher = newCipher('k1');
  const plainStores = await fresh({ url: server.url })();
  const prefix = prefixOf(plainStores);
  const options = { url: server.url, shardCount: 16, keyPrefix: prefix };
  const oldEntry = await plainStores.log.append('s:enc', { ...entry, itemId: 'old-item-7b1' });
  const oldPush = { at: 1, cause: oldEntry.eventId, items: ['old-item-7b1'], modelVersion: 'm1', recommendationId: 'r0' };
  await plainStores.pushes.record('s:enc', oldPush);
  await plainStores.close();

  const stores = await createRedisStores({ ...options, cipher });
  t.teardown(() => stores.close());
  const secret = 'secret-item-123';
  const appended = await stores.log.append('s:enc', { ...entry, itemId: secret, properties: { note: secret } });
  const push = { at: 2, cause: appended.eventId, items: [secret, 'b'], modelVersion: 'm1', recommendationId: 'r1' };
  await stores.pushes.record('s:enc', push);
  const snapshot = { key: 's:enc', lastEventId: appended.eventId, bytes: new Uint8Array(packr.pack({ v: 1, key: 's:enc', userId: null, state: { recent: [[secret, 1]] } })) };
  t.equal(await stores.snapshots.put(snapshot), true);

  t.strictSame(await stores.log.read('s:enc', null), [oldEntry, appended]);
  t.strictSame(await stores.pushes.read('s:enc'), [oldPush, push]);
  t.strictSame(await stores.snapshots.get('s:enc'), snapshot);

  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());
  t.strictSame(await keysHolding([raw], prefix, [secret]), [], 'the item id shows in no raw value');
  t.strictSame(await keysHolding([raw], prefix, ['old-item-7b1']), [`{${shardOf('s:enc', 16)}}:log:s:enc`, `{${shardOf('s:enc', 16)}}:push:s:enc`].map((key) => `${prefix}:${key} (stream)`), 'what was written before encryption stays plain');

  t.equal(await stores.log.trim('s:enc', appended.eventId, 1), 1, 'trimming needs no payload');
  t.strictSame(await stores.log.read('s:enc', null), [appended]);

  const otherKey = await createRedisStores({ ...options, cipher: newCipher('k2') });
  t.teardown(() => otherKey.close());
  await t.rejects(otherKey.log.read('s:enc', null), /payload encrypted with key "k1", which is not configured/);
  await t.rejects(otherKey.snapshots.get('s:enc'), /which is not configured/);
  await t.rejects(otherKey.pushes.read('s:enc'), /which is not configured/);
  const sameIdOtherKey = await createRedisStores({ ...options, cipher: newCipher('k1') });
  t.teardown(() => sameIdOtherKey.close());
  await t.rejects(sameIdOtherKey.log.read('s:enc', null), /^payload failed authentication/);
});

t.test('encryption at rest: a sealed value moved to another key or field is refused; another key prefix still opens it', async (t) => {
  const cipher = newCipher('k1');
  const stores = await fresh({ url: server.url, cipher })();
  t.teardown(() => stores.close());
  const prefix = prefixOf(stores);
  const keyspace = new RedisKeyspace(prefix, 16);
  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());

  const entryA = await stores.log.append('s:a', { ...entry, itemId: 'item-a' });
  const entryB = await stores.log.append('s:b', { ...entry, itemId: 'item-b' });
  const pushA = { at: 1, cause: entryA.eventId, items: ['item-a'], modelVersion: 'm1', recommendationId: 'ra' };
  await stores.pushes.record('s:a', pushA);
  const snapA = { key: 's:a', lastEventId: entryA.eventId, bytes: new Uint8Array(packr.pack({ v: 1, key: 's:a', state: 'a' })) };
  const snapB = { key: 's:b', lastEventId: entryB.eventId, bytes: new Uint8Array(packr.pack({ v: 1, key: 's:b', state: 'b' })) };
  t.equal(await stores.snapshots.put(snapA), true);
  t.equal(await stores.snapshots.put(snapB), true);

  const [[idA, fieldsA]] = await raw.xrangeBuffer(keyspace.log('s:a'), '-', '+');
  const sealedEntryA = fieldsA[1];
  const sealedSnapA = await raw.hgetBuffer(keyspace.snapshot('s:a'), 'bytes');
  const [[pushIdA, pushFieldsA]] = await raw.xrangeBuffer(keyspace.pushes('s:a'), '-', '+');
  if (sealedSnapA === null) throw new Error('expected a snapshot');

  // Another key prefix over copies of the same values: the context is the actor key, not the Redis key.
  const moved = await createRedisStores({ url: server.url, shardCount: 16, keyPrefix: `${prefix}-moved`, cipher });
  t.teardown(() => moved.close());
  const movedKeys = new RedisKeyspace(`${prefix}-moved`, 16);
  await raw.xadd(movedKeys.log('s:a'), idA.toString(), 'e', sealedEntryA);
  await raw.xadd(movedKeys.pushes('s:a'), pushIdA.toString(), 'p', pushFieldsA[1]);
  await raw.hset(movedKeys.snapshot('s:a'), 'bytes', sealedSnapA, 'id', entryA.eventId);
  t.strictSame(await moved.log.read('s:a', null), [entryA], 'a log entry opens under another prefix');
  t.strictSame(await moved.pushes.read('s:a'), [pushA], 'a push opens under another prefix');
  t.strictSame(await moved.snapshots.get('s:a'), snapA, 'a snapshot opens under another prefix');

  const refused = /^payload failed authentication \(key "k1"\)/;
  await raw.xadd(keyspace.log('s:b'), '*', 'e', sealedEntryA);
  await t.rejects(stores.log.read('s:b', null), refused, "a's log entry copied into b's log");
  await raw.hset(keyspace.snapshot('s:b'), 'bytes', sealedSnapA);
  await t.rejects(stores.snapshots.get('s:b'), refused, "a's snapshot copied over b's");
  await raw.hset(keyspace.snapshot('s:a'), 'bytes', sealedEntryA);
  await t.rejects(stores.snapshots.get('s:a'), refused, "a's log entry replayed as a's snapshot");
  await raw.xadd(keyspace.pushes('s:a'), '*', 'p', sealedEntryA);
  await t.rejects(stores.pushes.read('s:a'), refused, "a's log entry replayed as a's push");
  t.strictSame(await stores.log.read('s:a', null), [entryA], 'what was not moved still opens');
});

t.test('encryption at rest with requireSealed: plaintext from before is refused, sealed values open', async (t) => {
  const spec = `k1:${randomBytes(32).toString('base64')}`;
  const lenient = createPayloadCipher([spec]);
  const strict = createPayloadCipher([spec], { requireSealed: true });
  if (lenient === null || strict === null) throw new Error('expected ciphers');
  const plainStores = await fresh({ url: server.url })();
  const prefix = prefixOf(plainStores);
  const options = { url: server.url, shardCount: 16, keyPrefix: prefix };
  const oldEntry = await plainStores.log.append('s:old', { ...entry, itemId: 'old-item' });
  await plainStores.pushes.record('s:old', { at: 1, cause: oldEntry.eventId, items: ['old-item'], modelVersion: 'm1', recommendationId: 'r0' });
  t.equal(await plainStores.snapshots.put({ key: 's:old', lastEventId: oldEntry.eventId, bytes: new Uint8Array(packr.pack({ v: 1 })) }), true);
  await plainStores.close();

  const sealedStores = await createRedisStores({ ...options, cipher: lenient });
  t.teardown(() => sealedStores.close());
  t.strictSame(await sealedStores.log.read('s:old', null), [oldEntry], 'without requireSealed, plaintext from before reads');
  const newEntry = await sealedStores.log.append('s:new', { ...entry, itemId: 'new-item' });
  const push = { at: 2, cause: newEntry.eventId, items: ['new-item'], modelVersion: 'm1', recommendationId: 'r1' };
  await sealedStores.pushes.record('s:new', push);
  const snapshot = { key: 's:new', lastEventId: newEntry.eventId, bytes: new Uint8Array(packr.pack({ v: 1, state: 'new' })) };
  t.equal(await sealedStores.snapshots.put(snapshot), true);

  const strictStores = await createRedisStores({ ...options, cipher: strict });
  t.teardown(() => strictStores.close());
  const notEncrypted = /^payload is not encrypted, and unencrypted payloads are refused$/;
  await t.rejects(strictStores.log.read('s:old', null), notEncrypted);
  await t.rejects(strictStores.pushes.read('s:old'), notEncrypted);
  await t.rejects(strictStores.snapshots.get('s:old'), notEncrypted);
  t.strictSame(await strictStores.log.read('s:new', null), [newEntry]);
  t.strictSame(await strictStores.pushes.read('s:new'), [push]);
  t.strictSame(await strictStores.snapshots.get('s:new'), snapshot);
});

const cluster = await clusterSupported();
t.test('a three-master redis cluster', { skip: cluster ? false : 'redis-server lacks cluster support (cluster-enabled yes is refused)' }, async (t) => {
  const nodes = await startCluster(3);
  t.teardown(() => nodes.stop());
  const onCluster = fresh({ cluster: nodes.seeds }, 64);

  storeConformance(t, 'redis cluster', onCluster, { peer });
  leaseConformance(t, 'redis cluster', onCluster);

  t.test('erasing a user leaves no key name or value that names them', async (t) => {
    await erasureLeavesNoTrace(t, onCluster, nodes.nodes.map((node) => node.port));
  });

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
    for (const userId of ['ann', 'ünï', '{x}']) {
      const key = `u:${userId}`;
      const keys = [keyspace.log(key), keyspace.logKeys(shardOf(key, 256)), keyspace.user(userId), keyspace.sessionsOf(userId), keyspace.optOut(userId)];
      t.equal(new Set(await Promise.all(keys.map(slot))).size, 1, keys.join(', '));
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
