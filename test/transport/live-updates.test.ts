import t from 'tap';
import { demoCatalog } from '../../src/demo/catalog.js';
import type { RunningServer } from '../../src/server/start.js';
import { sessionKey } from '../../src/session/events.js';
import { parseBusMessage } from '../../src/store/redis/index.js';
import { shardOf } from '../../src/store/shard.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';

type Item = { itemId: string; promotionName?: string };

async function call(server: RunningServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path, {
    method,
    headers: body === undefined ? authHeaders : { ...authHeaders, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const items = (body: Record<string, unknown>) => body.items as Item[];
const ids = (body: Record<string, unknown>) => items(body).map((i) => i.itemId);
const categoryOf = new Map(demoCatalog().map((i) => [i.itemId, i.category]));
const titleOf = (itemId: string) => demoCatalog().find((i) => i.itemId === itemId)?.title ?? '';

t.test('a new item PUT through the API is in the related list of an item like it at once; its own list is its category', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const put = await call(server, 'PUT', '/v1/items', { items: [{ itemId: 'watches-new', category: 'watches', title: titleOf('watches-003'), price: 99, inStock: true }] });
  t.equal(put.status, 200);
  const related = await call(server, 'GET', '/v1/items/watches-003/related?numResults=5');
  t.equal(related.status, 200);
  t.equal(ids(related.body)[1], 'watches-new', 'its strongest live link ranks right after the model\'s best neighbour');
  const own = await call(server, 'GET', '/v1/items/watches-new/related?numResults=5');
  t.equal(own.status, 200);
  t.equal(ids(own.body).length, 5);
  t.ok(ids(own.body).every((id) => categoryOf.get(id) === 'watches'), 'a new item\'s related list: its category');
});

t.test('an item first seen in events joins the lists of the items it was seen with, at its first co-occurrence', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const relatedForObserver = async () => ids((await call(server, 'GET', '/v1/items/books-002/related?numResults=10&sessionId=observer')).body);
  t.notOk((await relatedForObserver()).includes('fresh-item'), 'not before anyone saw it');
  const first = await connectClient(server.url, { sessionId: 'co-1' });
  t.teardown(() => first.close());
  for (const itemId of ['books-002', 'fresh-item']) t.equal((await first.emit<{ ok: boolean }>('event', { eventType: 'view', itemId })).ok, true);
  await waitFor('fresh-item in the related list of books-002', async () => (await relatedForObserver()).includes('fresh-item'), 5000);
  // Another visitor's personalized push after viewing books-002 has it too.
  const second = await connectClient(server.url, { sessionId: 'co-2' });
  t.teardown(() => second.close());
  const ack = await second.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId: 'books-002' });
  const push = await second.push((p) => p.cause?.eventId === ack.eventId);
  t.equal(push.items[1].itemId, 'fresh-item');
  const metric = async (name: 'livePairs' | 'liveNewItems', source?: string) => (await server.metrics[name].get()).values.find((v) => source === undefined || v.labels.source === source)?.value;
  t.equal(await metric('livePairs', 'local'), 2, 'books-002 -> fresh-item and back; a session\'s first item pairs with nothing');
  t.equal(await metric('liveNewItems'), 1, 'fresh-item is the one item the model does not know');
});

t.test('--live-updates false: the model alone', async (t) => {
  const server = await startLocalServer({ security: testSecurity, live: { enabled: false } });
  t.teardown(() => server.close());
  await call(server, 'PUT', '/v1/items', { items: [{ itemId: 'watches-new', category: 'watches', title: titleOf('watches-003'), price: 99, inStock: true }] });
  t.ok(ids((await call(server, 'GET', '/v1/items?limit=1000')).body).includes('watches-new'), 'the catalog has it');
  t.notOk(ids((await call(server, 'GET', '/v1/items/watches-003/related?numResults=50')).body).includes('watches-new'));
});

t.test('exploration: off by default; with a share, at most that share of slots, the same picks for the same list', async (t) => {
  const newItems = Array.from({ length: 6 }, (_, i) => ({ itemId: `plants-new-${i}`, category: 'plants', title: `Novelty ${i}`, price: 5, inStock: true }));
  const history = { sessionId: 'explorer', eventList: ['coffee-001', 'coffee-002'].map((itemId) => ({ eventType: 'view', itemId })) };
  const off = await startLocalServer({ security: testSecurity });
  t.teardown(() => off.close());
  await call(off, 'PUT', '/v1/items', { items: newItems });
  t.equal((await call(off, 'POST', '/v1/events', history)).status, 200);
  const plain = await call(off, 'GET', '/v1/recommendations?sessionId=explorer&numResults=10');
  t.equal(ids(plain.body).length, 10);
  t.notOk(items(plain.body).some((i) => i.promotionName === 'explore' || i.itemId.startsWith('plants-new-')), 'off by default');

  const on = await startLocalServer({ security: testSecurity, live: { exploreShare: 0.2, exploreSeed: 11 } });
  t.teardown(() => on.close());
  await call(on, 'PUT', '/v1/items', { items: newItems });
  t.equal((await call(on, 'POST', '/v1/events', history)).status, 200);
  const explored = await call(on, 'GET', '/v1/recommendations?sessionId=explorer&numResults=10');
  const picks = items(explored.body).filter((i) => i.promotionName === 'explore');
  t.equal(picks.length, 2, 'a share of 0.2 of 10 slots');
  t.ok(picks.every((i) => i.itemId.startsWith('plants-new-')), 'new items');
  t.notOk(items(explored.body)[0].promotionName === 'explore', 'the top slot stays the model\'s');
  t.strictSame(items(explored.body).filter((i) => i.promotionName !== 'explore').map((i) => i.itemId), ids(plain.body).slice(0, 8), 'the rest is the model\'s list');
  t.strictSame(ids((await call(on, 'GET', '/v1/recommendations?sessionId=explorer&numResults=10')).body), ids(explored.body), 'the same picks for the same list');
  const four = await call(on, 'GET', '/v1/recommendations?sessionId=explorer&numResults=4');
  t.notOk(items(four.body).some((i) => i.promotionName === 'explore'), 'a share of 0.2 of 4 slots is no slot');
});

t.test('two nodes on one Redis: co-occurrences observed on one node reach the other within 5 s', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const SHARDS = 8;
  const node = (nodeId: string) => startLocalServer({ redis: { url: redis.url }, cluster: { nodeId, shardCount: SHARDS, leaseTtlMs: 1000 }, security: testSecurity });
  const a = await node('live-a');
  t.teardown(() => a.close());
  const b = await node('live-b');
  t.teardown(() => b.close());
  const owned = (s: RunningServer) => s.ownership?.ownedShards() ?? [];
  await waitFor('the shards to split between the nodes', () => owned(a).length > 0 && owned(b).length > 0 && owned(a).length + owned(b).length === SHARDS, 10_000);
  // A session a owns, so a (and only a) accepts its events.
  let n = 0;
  while (!owned(a).includes(shardOf(sessionKey(`local-${n}`), SHARDS))) n++;
  const onB = async () => ids((await call(b, 'GET', '/v1/items/plants-004/related?numResults=10&sessionId=observer-b')).body);
  t.notOk((await onB()).includes('shared-fresh'), 'b has not seen it');
  const posted = await call(a, 'POST', '/v1/events', { sessionId: `local-${n}`, eventList: ['plants-004', 'shared-fresh'].map((itemId) => ({ eventType: 'view', itemId })) });
  t.equal(posted.status, 200);
  await waitFor('b to list shared-fresh next to plants-004', async () => (await onB()).includes('shared-fresh'), 5000);
  t.equal((await onB())[1], 'shared-fresh', 'ranked as on the node that saw it');
  t.equal((await b.metrics.livePairs.get()).values.find((v) => v.labels.source === 'peer')?.value, 2, 'the pair and its reverse, from a');

  // A new item written through a reaches b's content index with b's catalog copy.
  const put = await call(a, 'PUT', '/v1/items', { items: [{ itemId: 'plants-new-x', category: 'plants', title: titleOf('plants-004'), price: 9, inStock: true }] });
  t.equal(put.status, 200);
  await waitFor('b to list plants-new-x next to plants-004', async () => (await onB()).includes('plants-new-x'), 5000);
});

t.test('live-pairs bus messages: known fields only, every pair checked', async (t) => {
  t.strictSame(parseBusMessage('{"type":"live-pairs","nodeId":"n1","pairs":[["a","b",1,1000]],"extra":1}'), { type: 'live-pairs', nodeId: 'n1', pairs: [['a', 'b', 1, 1000]] });
  t.equal(parseBusMessage('{"type":"live-pairs","nodeId":"n1","pairs":[["a","b","1",1000]]}'), null);
  t.equal(parseBusMessage('{"type":"live-pairs","nodeId":"n1","pairs":[["a","b",1]]}'), null);
  t.equal(parseBusMessage('{"type":"live-pairs","pairs":[]}'), null);
});
