import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sessionKey, userKey } from '../../src/session/events.js';
import type { ConfigOverrides } from '../../src/config.js';
import type { RunningServer } from '../../src/server/start.js';
import { connectClient, startLocalServer, waitFor } from '../helpers.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

const MASTER = 'privacy-test-master-key-0123456789abcdef';
const SECRETS = { masterKey: MASTER, tokenSecret: 'privacy-test-token-secret-0123456789abcdef', pseudonymKey: 'privacy-test-pseudonym-key-0123456789abcdef' };
const SHARDS = 8;

async function serve(t: Test, overrides: ConfigOverrides = {}): Promise<RunningServer> {
  const server = await startLocalServer({ ...overrides, actors: { snapshotEvery: 2 }, security: { ...SECRETS, deletionGraceMs: 100, ...overrides.security } });
  t.teardown(() => server.close());
  if (server.ownership !== null) await waitFor('every shard owned', () => server.ownership?.ownedShards().length === SHARDS, 10_000);
  return server;
}

function api(server: RunningServer) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${MASTER}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
}

const views = (...itemIds: string[]) => itemIds.map((itemId) => ({ eventType: 'view', itemId }));

/**
 * Gives `userId` everything a user can have: events over HTTP and a socket, two sessions (one
 * anonymous first, then identified), a live actor, recorded pushes, a snapshot, a profile, a
 * cached list and a segment.
 */
async function populate(t: Test, server: RunningServer, userId: string, sessions: [string, string]): Promise<void> {
  const call = api(server);
  t.equal((await call('POST', '/v1/events', { sessionId: sessions[0], eventList: views('watches-001', 'watches-002') })).status, 200);
  const token = String((await call('POST', '/v1/tokens', { sessionId: sessions[0], userId })).body.token);
  const socket = await connectClient(server.url, { token });
  await socket.push();
  const ack = await socket.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'purchase', itemId: 'watches-003' });
  t.equal(ack.ok, true);
  await socket.push((p) => p.cause?.eventId === ack.eventId);
  socket.close();
  t.equal((await call('POST', '/v1/events', { sessionId: sessions[1], userId, eventList: views('bags-001', 'bags-002', 'bags-003') })).status, 200);
  await server.stores.users.put([{ userId: server.pseudonyms.user(userId), attributes: { AGE: '41' } }]);
  await waitFor('a write-behind snapshot of the user', async () => (await server.stores.snapshots.get(userKey(server.pseudonyms.user(userId)))) !== null);
  const cached = await fetch(`${server.url}/v1/recommendations?sessionId=${sessions[1]}&numResults=5`, { headers: { authorization: `Bearer ${MASTER}` } });
  t.equal(cached.status, 200);
  t.equal((await call('GET', `/v1/users/${userId}/segment`)).status, 200);
}

async function eraseAndWait(t: Test, server: RunningServer, userId: string): Promise<Record<string, unknown>> {
  const call = api(server);
  const accepted = await call('DELETE', `/v1/users/${userId}`);
  t.equal(accepted.status, 202);
  const jobId = String(accepted.body.jobId);
  let job: Record<string, unknown> = {};
  await waitFor('the deletion job to finish', async () => {
    job = (await call('GET', `/v1/deletion-jobs/${jobId}`)).body;
    return job.state !== 'running';
  });
  return job;
}

t.test('deletion on the embedded stores: every trace of the user goes, others stay', async (t) => {
  const server = await serve(t);
  const call = api(server);
  await populate(t, server, 'erin', ['erin-a', 'erin-b']);
  await populate(t, server, 'frank', ['frank-a', 'frank-b']);
  const erin = userKey(server.pseudonyms.user('erin'));
  t.equal(server.host.isLive(erin), true, 'erin has a live actor');
  const frankBefore = await server.stores.log.read(userKey(server.pseudonyms.user('frank')), null);

  const job = await eraseAndWait(t, server, 'erin');
  t.match(job, { state: 'done', keysErased: 3, finishedAt: Number });
  for (const key of [erin, sessionKey('erin-a'), sessionKey('erin-b')]) {
    t.strictSame(await server.stores.log.read(key, null), [], `${key}: no log`);
    t.strictSame(await server.stores.pushes.read(key), [], `${key}: no pushes`);
    t.equal(await server.stores.snapshots.get(key), null, `${key}: no snapshot`);
    t.equal(server.host.isLive(key), false, `${key}: no live actor`);
  }
  t.equal(await server.stores.users.get(server.pseudonyms.user('erin')), null, 'no profile');
  t.equal(await server.stores.identities.userOf('erin-a'), null, 'no link');
  t.strictSame(await server.stores.identities.sessionsOf(server.pseudonyms.user('erin')), []);
  t.notOk((await server.stores.log.keys('u:')).includes(erin), 'not among the users segments are computed from');
  t.equal((await call('GET', '/v1/users/erin/segment')).status, 404, 'no segment membership');
  const list = await call('GET', '/v1/recommendations?userId=erin&numResults=5');
  t.equal(list.body.source, 'popular', 'a cached personal list is not served any more');
  t.strictSame(await server.stores.log.read(userKey(server.pseudonyms.user('frank')), null), frankBefore, "frank's data is untouched");

  const audit = (await call('GET', '/v1/admin/audit')).body.entries as Array<{ action: string; target: string }>;
  t.match(audit[0], { action: 'user.delete', target: job.jobId ?? audit[0].target, actor: 'master', outcome: 'ok' });
  t.notOk(JSON.stringify(audit).includes('erin'), 'the audit log does not name the user');
  t.equal((await call('GET', '/v1/deletion-jobs/not-a-job')).status, 404);
});

t.test('opt-out: nothing stored, nothing used, what was stored is erased; opting in again works', async (t) => {
  const server = await serve(t);
  const call = api(server);
  t.equal((await call('POST', '/v1/events', { sessionId: 'gail-1', userId: 'gail', eventList: views('coffee-001', 'coffee-002') })).status, 200);
  const gail = userKey(server.pseudonyms.user('gail'));
  t.equal((await server.stores.log.read(gail, null)).length, 2);

  const out = await call('PUT', '/v1/users/gail/consent', { personalization: false });
  t.equal(out.body.personalization, false);
  await waitFor('the erasure', async () => (await call('GET', `/v1/deletion-jobs/${String(out.body.deletionJobId)}`)).body.state === 'done');
  t.strictSame(await server.stores.log.read(gail, null), [], 'what was stored is gone');
  t.strictSame((await call('GET', '/v1/users/gail/consent')).body, { personalization: false }, 'the choice itself is kept');

  const dropped = await call('POST', '/v1/events', { sessionId: 'gail-2', userId: 'gail', eventList: views('coffee-003') });
  t.strictSame(dropped, { status: 200, body: { eventIds: [], optedOut: true } });
  const token = String((await call('POST', '/v1/tokens', { sessionId: 'gail-3', userId: 'gail' })).body.token);
  const socket = await connectClient(server.url, { token });
  t.teardown(() => socket.close());
  const first = await socket.push();
  t.strictSame(first.items, (await server.host.anonymousList()).items, 'the socket gets the anonymous list');
  t.strictSame(await socket.emit('event', { eventType: 'view', itemId: 'coffee-004' }), { ok: true, optedOut: true });
  t.strictSame(await server.stores.log.read(gail, null), [], 'no event over HTTP or the socket was stored');
  t.strictSame(await server.stores.log.read(sessionKey('gail-3'), null), [], 'not even as an anonymous session');
  t.equal(await server.stores.identities.userOf('gail-3'), null, 'the session was not linked');
  const list = await call('GET', '/v1/recommendations?userId=gail&numResults=5');
  t.equal(list.body.source, 'popular');

  // The first event of an opted-out user's socket, sent before the welcome finished, is dropped too.
  const eager = await connectClient(server.url, { token: String((await call('POST', '/v1/tokens', { sessionId: 'gail-5', userId: 'gail' })).body.token) });
  t.teardown(() => eager.close());
  t.strictSame(await eager.emit('event', { eventType: 'view', itemId: 'coffee-006' }), { ok: true, optedOut: true });
  t.strictSame(await server.stores.log.read(sessionKey('gail-5'), null), []);

  t.strictSame((await call('PUT', '/v1/users/gail/consent', { personalization: true })).body, { personalization: true });
  const stored = await call('POST', '/v1/events', { sessionId: 'gail-4', userId: 'gail', eventList: views('coffee-005') });
  t.equal((stored.body.eventIds as string[]).length, 1, 'events are stored again after opting in');
});

t.test('a socket connected when its user opts out stops storing at once; imports skip opted-out users', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-optout-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = await serve(t, { importDir: dir });
  const call = api(server);
  const token = String((await call('POST', '/v1/tokens', { sessionId: 'hal-1', userId: 'hal' })).body.token);
  const socket = await connectClient(server.url, { token });
  t.teardown(() => socket.close());
  await socket.push();
  t.equal((await socket.emit<{ ok: boolean; eventId?: string }>('event', { eventType: 'view', itemId: 'books-001' })).ok, true);
  const out = await call('PUT', '/v1/users/hal/consent', { personalization: false });
  await waitFor('the erasure', async () => (await call('GET', `/v1/deletion-jobs/${String(out.body.deletionJobId)}`)).body.state === 'done');
  t.strictSame(await socket.emit('event', { eventType: 'view', itemId: 'books-002' }), { ok: true, optedOut: true }, 'the open socket drops the next event');
  t.strictSame(await server.stores.log.read(userKey(server.pseudonyms.user('hal')), null), []);

  writeFileSync(join(dir, 'users.csv'), 'USER_ID,AGE\nhal,40\nivy,30\n');
  writeFileSync(join(dir, 'interactions.csv'), 'USER_ID,ITEM_ID,TIMESTAMP\nhal,books-003,1700000000\nivy,books-004,1700000000\n');
  const started = await call('POST', '/v1/import-jobs', { users: join(dir, 'users.csv'), interactions: join(dir, 'interactions.csv') });
  let job: Record<string, unknown> = {};
  await waitFor('the import', async () => {
    job = (await call('GET', `/v1/import-jobs/${String(started.body.jobId)}`)).body;
    return job.status !== 'running';
  });
  t.match(job, { status: 'succeeded', report: { users: { imported: 1, optedOut: 1 }, interactions: { imported: 1, optedOut: 1 } } });
  t.equal(await server.stores.users.get(server.pseudonyms.user('hal')), null, "hal's profile was not imported");
  t.strictSame(await server.stores.log.read(userKey(server.pseudonyms.user('hal')), null), [], 'nor his interactions');
  t.strictSame(await server.stores.users.get(server.pseudonyms.user('ivy')), { AGE: '30', USER_ID: server.pseudonyms.user('ivy') });
});

t.test('on Redis, two nodes: after a deletion no key or value mentions the user or their sessions', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const onRedis = (nodeId: string): ConfigOverrides => ({ redis: { url: redis.url }, cluster: { nodeId, shardCount: SHARDS, leaseTtlMs: 500 }, actors: { snapshotEvery: 2 } });
  const other = await startLocalServer({ ...onRedis('privacy-b'), security: { ...SECRETS, deletionGraceMs: 100 } });
  t.teardown(() => other.close());
  const server = await startLocalServer({ ...onRedis('privacy-a'), security: { ...SECRETS, deletionGraceMs: 100 } });
  t.teardown(() => server.close());
  const owned = (node: RunningServer) => node.ownership?.ownedShards().length ?? 0;
  await waitFor('the shards to split between two nodes', () => owned(server) > 0 && owned(other) > 0 && owned(server) + owned(other) === SHARDS, 15_000);
  await populate(t, server, 'hana-user', ['hana-sess-a', 'hana-sess-b']);
  await populate(t, server, 'ivan-user', ['ivan-sess-a', 'ivan-sess-b']);
  const hana = server.pseudonyms.user('hana-user');
  const ivan = server.pseudonyms.user('ivan-user');

  const client = new Redis(redis.port, '127.0.0.1');
  t.teardown(() => client.disconnect());
  const mentions = async (needles: readonly string[]): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await client.type(key);
        const parts: Buffer[] = [Buffer.from(key)];
        if (type === 'string') parts.push((await client.getBuffer(key)) ?? Buffer.alloc(0));
        else if (type === 'hash') parts.push(...Object.entries(await client.hgetallBuffer(key)).flatMap(([field, value]) => [Buffer.from(field), value]));
        else if (type === 'set') parts.push(...(await client.smembersBuffer(key)));
        else if (type === 'zset') parts.push(...(await client.zrangeBuffer(key, '0', '-1')));
        else if (type === 'list') parts.push(...(await client.lrangeBuffer(key, 0, -1)));
        else if (type === 'stream') parts.push(...(await client.xrangeBuffer(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]));
        const haystack = Buffer.concat(parts);
        for (const needle of needles) if (haystack.includes(needle)) found.push(`${key} (${type}) mentions ${needle}`);
      }
    } while (cursor !== '0');
    return found;
  };
  const hanaNeedles = ['hana-user', hana, 'hana-sess-a', 'hana-sess-b'];
  t.strictSame(await mentions(['hana-user', 'ivan-user']), [], 'raw user ids never reach Redis');
  t.ok((await mentions(hanaNeedles)).length >= 8, 'before: her pseudonym and sessions are in many keys');

  const hanaKeys = [userKey(hana), sessionKey('hana-sess-a'), sessionKey('hana-sess-b')];
  await waitFor('her actor live on its owner', () => [server, other].some((node) => node.host.isLive(userKey(hana))));
  const job = await eraseAndWait(t, server, 'hana-user');
  t.match(job, { state: 'done', keysErased: 3 });
  t.strictSame(hanaKeys.filter((key) => server.host.isLive(key) || other.host.isLive(key)), [], 'no node keeps a live actor of hers');
  t.strictSame(await mentions(hanaNeedles), [], 'after: nothing in Redis refers to her');
  t.ok((await mentions([ivan, 'ivan-sess-a', 'ivan-sess-b'])).length >= 8, "ivan's data is still there");
  t.equal((await server.stores.log.read(userKey(ivan), null)).length, 5, 'the merge of his first session, a purchase, three views');
});
