import t from 'tap';
import { sessionKey } from '../../src/session/events.js';
import type { RunningServer } from '../../src/server/start.js';
import { shardOf } from '../../src/store/shard.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';

const SHARDS = 16;

t.test('two nodes on one Redis: every shard has one owner, and a socket on one node is served by the other', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const node = (nodeId: string) => startLocalServer({ redis: { url: redis.url }, cluster: { nodeId, shardCount: SHARDS, leaseTtlMs: 1000 }, security: testSecurity });
  const a = await node('node-a');
  t.teardown(() => a.close());
  const b = await node('node-b');
  t.teardown(() => b.close());
  const owned = (s: RunningServer) => s.ownership?.ownedShards() ?? [];
  await waitFor('the shards to split between the nodes', () => owned(a).length > 0 && owned(b).length > 0 && owned(a).length + owned(b).length === SHARDS, 10_000);
  t.strictSame([...owned(a), ...owned(b)].sort((x, y) => x - y), Array.from({ length: SHARDS }, (_, i) => i), 'each shard exactly once');

  // A session whose shard b owns, connected to a.
  let n = 0;
  while (!owned(b).includes(shardOf(sessionKey(`remote-${n}`), SHARDS))) n++;
  const sessionId = `remote-${n}`;
  const client = await connectClient(a.url, { sessionId });
  t.teardown(() => client.close());
  await client.push();
  const acked: string[] = [];
  for (const itemId of ['watches-001', 'watches-002', 'watches-003']) {
    const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId });
    t.equal(ack.ok, true);
    acked.push(ack.eventId);
  }
  const last = await client.push((p) => p.cause?.eventId === acked[2]);
  t.ok(last.items.filter((i) => i.itemId.startsWith('watches-')).length >= 10, 'the owner scored it, the push crossed nodes');
  t.ok(b.host.isLive(sessionKey(sessionId)), 'the actor lives on the owner');
  t.notOk(a.host.isLive(sessionKey(sessionId)), 'not on the node holding the socket');
  t.equal((await b.host.currentState(sessionKey(sessionId))).eventCount, 3, 'each acked event applied once');

  // An item update made through a reaches b's filters (b owns the actor), and b re-pushes.
  const top = last.items[0].itemId;
  const put = await fetch(`${a.url}/v1/items`, { method: 'PUT', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ items: [{ itemId: top, inStock: false }] }) });
  t.equal(put.status, 200);
  await waitFor('b to see the stock change', () => !b.catalog.isInStock(top), 5000);
  const repushed = await client.push((p) => !p.items.some((i) => i.itemId === top));
  t.notOk(repushed.items.some((i) => i.itemId === top), 'the owner re-scored on the stock change and the push crossed nodes');

  // The ack of an event sent through a was lost; the client resends it through b with the same eventId.
  type Ack = { ok: boolean; eventId: string };
  const first = await client.emit<Ack>('event', { eventType: 'view', itemId: 'watches-004', eventId: 'c-x1' });
  const onB = await connectClient(b.url, { sessionId });
  t.teardown(() => onB.close());
  t.strictSame(await onB.emit<Ack>('event', { eventType: 'view', itemId: 'watches-004', eventId: 'c-x1' }), first, 'answered with the first ack');
  const later = await onB.emit<Ack>('event', { eventType: 'view', itemId: 'watches-005', eventId: 'c-x2' });
  await waitFor('the later event applied', async () => (await b.host.currentState(sessionKey(sessionId))).lastEventId === later.eventId);
  t.equal((await b.host.currentState(sessionKey(sessionId))).eventCount, 5, 'the resend was applied once');
  t.strictSame((await b.stores.log.read(sessionKey(sessionId), null)).map((e) => e.eventId), [...acked, first.eventId, later.eventId], 'and stored once');

  // One session's events through both nodes in turn: the owner applies them in the order they were acked, each once.
  const items = ['books-001', 'coffee-001', 'books-002', 'coffee-002', 'books-003', 'coffee-003', 'books-004', 'coffee-004'];
  const alternating: string[] = [];
  for (const [i, itemId] of items.entries()) {
    const ack = await (i % 2 === 0 ? client : onB).emit<Ack>('event', { eventType: 'view', itemId });
    t.equal(ack.ok, true);
    alternating.push(ack.eventId);
  }
  await waitFor('the last alternating event applied', async () => (await b.host.currentState(sessionKey(sessionId))).lastEventId === alternating.at(-1));
  const logged = await b.stores.log.read(sessionKey(sessionId), later.eventId);
  t.strictSame(logged.map((e) => e.eventId), alternating, 'the log holds them in the order they were acked');
  t.strictSame(logged.map((e) => (e.kind === 'interaction' ? e.itemId : null)), items, 'with the items sent');
  const state = await b.host.currentState(sessionKey(sessionId));
  t.equal(state.eventCount, 5 + items.length, 'each applied once');
  t.strictSame(state.recent.slice(-items.length).map(([itemId]) => itemId), items, 'in order');
});

/** How many batches `server` counted under the forwarding metric's `role` and `outcome`. */
async function forwarded(server: RunningServer, role: 'sender' | 'owner', outcome: string): Promise<number> {
  return (await server.metrics.forwardedBatches.get()).values.find((v) => v.labels.role === role && v.labels.outcome === outcome)?.value ?? 0;
}

t.test('a node forwards the events of a key it does not own to the owner, which appends and applies them: no wake note, no read-back', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const node = (nodeId: string) => startLocalServer({ redis: { url: redis.url }, cluster: { nodeId, shardCount: SHARDS, leaseTtlMs: 1000 }, security: testSecurity });
  const a = await node('fwd-a');
  t.teardown(() => a.close());
  const b = await node('fwd-b');
  t.teardown(() => b.close());
  const owned = (s: RunningServer) => s.ownership?.ownedShards() ?? [];
  await waitFor('the shards to split between the nodes', () => owned(a).length > 0 && owned(b).length > 0 && owned(a).length + owned(b).length === SHARDS, 10_000);
  let n = 0;
  while (!owned(b).includes(shardOf(sessionKey(`forwarded-${n}`), SHARDS))) n++;
  const sessionId = `forwarded-${n}`;
  const key = sessionKey(sessionId);
  const client = await connectClient(a.url, { sessionId });
  t.teardown(() => client.close());
  await client.push();

  type Ack = { ok: boolean; eventId: string };
  // The link to b opens on a's first batch for b: until it is up, a appends and wakes b.
  let sent = 0;
  await waitFor('a batch forwarded over the link', async () => {
    t.equal((await client.emit<Ack>('event', { eventType: 'view', itemId: `books-00${(sent++ % 9) + 1}` })).ok, true);
    return (await forwarded(a, 'sender', 'forwarded')) === 1;
  });
  const before = { sent: await forwarded(a, 'sender', 'forwarded'), here: await forwarded(a, 'sender', 'appended-here'), applied: await forwarded(b, 'owner', 'applied') };
  const acked: string[] = [];
  for (const itemId of ['coffee-001', 'coffee-002', 'coffee-003', 'coffee-004', 'coffee-005']) {
    const ack = await client.emit<Ack>('event', { eventType: 'view', itemId });
    t.equal(ack.ok, true);
    acked.push(ack.eventId);
  }
  t.equal(await forwarded(a, 'sender', 'forwarded'), before.sent + 5, 'a forwarded each batch');
  t.equal(await forwarded(a, 'sender', 'appended-here'), before.here, 'and appended none itself');
  t.equal(await forwarded(b, 'owner', 'applied'), before.applied + 5, 'b appended and applied each');
  const state = await b.host.currentState(key);
  t.equal(state.lastEventId, acked.at(-1), 'applied by the time the ack came back, with no wake note to wait for');
  t.equal(state.eventCount, sent + 5, 'each acked event once');
  t.strictSame((await b.stores.log.read(key, null)).map((e) => e.eventId).slice(-5), acked, 'in the log in ack order');
  t.notOk(a.host.isLive(key), 'nothing of the key on a');
  await client.push((p) => p.cause?.eventId === acked.at(-1));
  t.pass('the push of the last one crossed back to the socket on a');
});

t.test('Redis restarts: the node refuses events with a retryable error instead of acking them, then recovers', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const server = await startLocalServer({ redis: { url: redis.url }, cluster: { nodeId: 'solo', shardCount: SHARDS, leaseTtlMs: 600 }, security: testSecurity });
  t.teardown(() => server.close());
  const status = async (path: string) => (await fetch(server.url + path)).status;
  await waitFor('ready', async () => (await status('/readyz')) === 200, 10_000);
  const client = await connectClient(server.url, { sessionId: 'through-restart' });
  t.teardown(() => client.close());
  await client.push();
  t.match(await client.emit('event', { eventType: 'view', itemId: 'books-001' }), { ok: true });

  await redis.kill('SIGKILL');
  const refused = await client.emit<{ ok: boolean; error?: { code: string; retryable?: boolean } }>('event', { eventType: 'view', itemId: 'books-002' });
  t.match(refused, { ok: false, error: { code: 'ATTUNE_ERR_NOT_READY', retryable: true } }, 'a socket event is refused, not acked');
  const post = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: 'http-client', eventList: [{ eventType: 'view', itemId: 'a' }] }) });
  t.equal(post.status, 503);
  t.match(await post.json(), { error: { code: 'ATTUNE_ERR_NOT_READY', retryable: true } });
  await waitFor('not ready', async () => (await status('/readyz')) === 503, 10_000);

  await redis.restart();
  await waitFor('ready again', async () => (await status('/readyz')) === 200, 15_000);
  const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId: 'books-003' });
  t.equal(ack.ok, true, 'events are accepted again');
  await client.push((p) => p.cause?.eventId === ack.eventId);
  t.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the node never went down');
});
