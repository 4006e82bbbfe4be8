import t from 'tap';
import { demoCatalog } from '../../src/demo/catalog.js';
import type { RunningServer } from '../../src/server/start.js';
import { authHeaders, connectClient, startLocalServer, type TestClient, testSecurity } from '../helpers.js';

const PUSH_SIZE = 10;
const outOfStockAtStart = new Set(demoCatalog().filter((i) => !i.inStock).map((i) => i.itemId));
const categoryOf = new Map(demoCatalog().map((i) => [i.itemId, i.category]));

let server: RunningServer;
const clients: TestClient[] = [];

t.before(async () => {
  server = await startLocalServer({ pushSize: PUSH_SIZE, security: testSecurity });
});
t.afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
t.teardown(() => server.close());

async function client(auth: Record<string, unknown>): Promise<TestClient> {
  const c = await connectClient(server.url, auth);
  clients.push(c);
  return c;
}

async function http(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path, {
    method,
    headers: body === undefined ? authHeaders : { ...authHeaders, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const countIn = (items: Array<{ itemId: string }>, category: string) => items.filter((i) => categoryOf.get(i.itemId) === category).length;

t.test('a socket gets the current list at once on connect', async (t) => {
  const c = await client({ sessionId: 'fresh-1' });
  const first = await c.push();
  t.equal(first.cause, null);
  t.equal(first.items.length, PUSH_SIZE);
  t.equal(first.modelVersion, server.model.scorer.version);
  t.strictSame(first.items.map((i) => i.itemId), server.model.scorer.popular(PUSH_SIZE + outOfStockAtStart.size).map((i) => i.itemId).filter((id) => !outOfStockAtStart.has(id)).slice(0, PUSH_SIZE), 'cold start is the popular items in stock');
});

t.test('views of one category make that category rise in the pushed list', async (t) => {
  const c = await client({ sessionId: 'watcher' });
  const initial = await c.push();
  const before = countIn(initial.items, 'watches');
  let last = initial;
  for (const itemId of ['watches-005', 'watches-006', 'watches-012']) {
    const ack = await c.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId });
    t.equal(ack.ok, true);
    t.match(ack.eventId, /^\d+-\d+$/);
    last = await c.push((p) => p.cause?.eventId === ack.eventId);
  }
  const after = countIn(last.items, 'watches');
  t.ok(after >= PUSH_SIZE / 2 && after > before, `watches: ${before} -> ${after} of ${PUSH_SIZE}`);
});

t.test('purchased and out-of-stock items never appear', async (t) => {
  const c = await client({ sessionId: 'buyer' });
  await c.push();
  const ack = await c.emit<{ ok: true; eventId: string }>('event', { eventType: 'view', itemId: 'coffee-004' });
  const afterView = await c.push((p) => p.cause?.eventId === ack.eventId);
  const bought = afterView.items[0].itemId;
  const soldOut = afterView.items[1].itemId;

  const purchase = await c.emit<{ ok: true; eventId: string }>('event', { eventType: 'purchase', itemId: bought });
  const afterPurchase = await c.push((p) => p.cause?.eventId === purchase.eventId);
  t.notOk(afterPurchase.items.some((i) => i.itemId === bought), 'the purchased item left the list');

  // A stock change re-scores live sessions showing the item, without waiting for their next event.
  const pushesBefore = c.pushes.length;
  const put = await http('PUT', '/v1/items', { items: [{ itemId: soldOut, inStock: false }] });
  t.equal(put.status, 200);
  const afterStock = await c.push((p) => !p.items.some((i) => i.itemId === soldOut), pushesBefore);
  t.equal(afterStock.items.length, PUSH_SIZE);

  const more = await c.emit<{ ok: true; eventId: string }>('event', { eventType: 'view', itemId: 'coffee-005' });
  await c.push((p) => p.cause?.eventId === more.eventId).catch(() => null);
  const rest = await http('GET', '/v1/recommendations?sessionId=buyer&numResults=300');
  const restIds = (rest.body.items as Array<{ itemId: string }>).map((i) => i.itemId);
  t.equal(restIds.length, Math.min(300, demoCatalog().length - outOfStockAtStart.size - 2), 'every other item in stock can be ranked');
  const shown = [...c.pushes.flatMap((p) => p.items.map((i) => i.itemId)), ...restIds];
  t.notOk(shown.some((id) => outOfStockAtStart.has(id)), 'no item out of stock at start was ever shown');
  t.notOk(restIds.includes(bought) || restIds.includes(soldOut), 'GET applies the same filters');
  await http('PUT', '/v1/items', { items: [{ itemId: soldOut, inStock: true }] });
});

t.test('an event posted over HTTP is pushed to the live socket of its session', async (t) => {
  const c = await client({ sessionId: 'http-pushed' });
  await c.push();
  const res = await http('POST', '/v1/events', { sessionId: 'http-pushed', eventList: [{ eventType: 'view', itemId: 'bags-010' }, { eventType: 'add-to-cart', itemId: 'bags-011' }] });
  t.equal(res.status, 200);
  const ids = res.body.eventIds as string[];
  t.equal(ids.length, 2);
  const push = await c.push((p) => p.cause !== null && ids.includes(p.cause.eventId));
  t.ok(countIn(push.items, 'bags') >= 3, 'the pushed list follows the posted events');
});

t.test('another session keeps its own list', async (t) => {
  const a = await client({ sessionId: 'tab-a' });
  const b = await client({ sessionId: 'tab-b' });
  await a.push();
  await b.push();
  const ack = await a.emit<{ ok: true; eventId: string }>('event', { eventType: 'view', itemId: 'books-030' });
  await a.push((p) => p.cause?.eventId === ack.eventId);
  // A's push went out before b's own one: had it reached b, b holds it by the time b's own push arrives.
  const own = await b.emit<{ ok: true; eventId: string }>('event', { eventType: 'view', itemId: 'plants-030' });
  await b.push((p) => p.cause?.eventId === own.eventId);
  t.ok(b.pushes.every((p) => p.cause === null || p.cause.eventId === own.eventId), 'tab b got nothing from tab a: only its connect list and its own push');
});

t.test('identify: one user on two tabs has one actor and both tabs get its pushes', async (t) => {
  const a = await client({ sessionId: 'dev-a' });
  await a.push();
  const anon = await a.emit<{ ok: true; eventId: string }>('event', { eventType: 'view', itemId: 'plants-007' });
  await a.push((p) => p.cause?.eventId === anon.eventId);
  t.strictSame(await a.emit('identify', { userId: 'carol' }), { ok: true });

  const b = await client({ sessionId: 'dev-b', userId: 'carol' });
  const bFirst = await b.push();
  t.ok(countIn(bFirst.items, 'plants') >= 3, 'the other device sees what the first one browsed anonymously');

  const fromB = await b.emit<{ ok: true; eventId: string }>('event', { eventType: 'view', itemId: 'headphones-002' });
  const onA = await a.push((p) => p.cause?.eventId === fromB.eventId);
  const onB = await b.push((p) => p.cause?.eventId === fromB.eventId);
  t.strictSame(onA.items, onB.items);
  t.ok(server.host.isLive(`u:${server.pseudonyms.user('carol')}`));
  t.notOk(server.host.isLive('s:dev-a'));
  t.notOk(server.host.isLive('s:dev-b'));

  t.strictSame(await a.emit('identify', { userId: 'dave' }), {
    ok: false,
    error: { code: 'ATTUNE_ERR_IDENTITY_CONFLICT', message: 'session dev-a is already identified as another user' },
  });
});

t.test('bad socket input gets an ack error or a refused connection, never a crash', async (t) => {
  const c = await client({ sessionId: 'bad-input' });
  t.strictSame(await c.emit('event', { eventType: 'view' }), {
    ok: false,
    error: { code: 'ATTUNE_ERR_VALIDATION', message: "event must have required property 'itemId'" },
  });
  t.strictSame(await c.emit('event', { eventType: 'view', itemId: 'x'.repeat(257) }), {
    ok: false,
    error: { code: 'ATTUNE_ERR_VALIDATION', message: 'event.itemId must NOT have more than 256 characters' },
  });
  t.strictSame(await c.emit('event', 'not an object'), { ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: 'event must be object' } });
  t.strictSame(await c.emit('identify', { userId: 42 }), { ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: 'identify.userId must be string' } });
  const err = await connectClient(server.url, {}).then(
    () => null,
    (e: Error & { data?: unknown }) => e,
  );
  t.strictSame(err?.data, { code: 'ATTUNE_ERR_VALIDATION', message: "auth must have required property 'sessionId'" });
  t.equal((await http('GET', '/healthz')).status, 200, 'the node is still up');
});

t.test('HTTP schema violations return 400 with a stable code', async (t) => {
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', '/v1/events', { eventList: [{ eventType: 'view', itemId: 'a' }] }, "body must have required property 'sessionId'"],
    ['POST', '/v1/events', { sessionId: 's', eventList: [] }, 'body.eventList must NOT have fewer than 1 items'],
    ['POST', '/v1/events', { sessionId: 's', eventList: Array.from({ length: 11 }, () => ({ eventType: 'view', itemId: 'a' })) }, 'body.eventList must NOT have more than 10 items'],
    ['POST', '/v1/events', { sessionId: 's', eventList: [{ eventType: 'view', itemId: 'a', extra: 1 }] }, 'body.eventList.0 has an unknown property "extra"'],
    ['POST', '/v1/events', { sessionId: 's', eventList: [{ eventType: 'view', itemId: 'a', eventValue: '5' }] }, 'body.eventList.0.eventValue must be number'],
    ['POST', '/v1/events', '{"sessionId": ', 'Body is not valid JSON but content-type is set to \'application/json\''],
    ['GET', '/v1/recommendations?sessionId=s&numResults=501', undefined, 'querystring.numResults must be <= 500'],
    ['PUT', '/v1/items', { items: [{ itemId: 'a', inStock: 'no' }] }, 'body.items.0.inStock must be boolean'],
  ];
  for (const [method, path, body, message] of cases) {
    const res = await http(method, path, body);
    t.strictSame(res, { status: 400, body: { error: { code: 'ATTUNE_ERR_VALIDATION', message } } }, `${method} ${path}`);
  }
  t.strictSame(await http('GET', '/v1/recommendations'), {
    status: 400,
    body: { error: { code: 'ATTUNE_ERR_MISSING_IDENTITY', message: 'querystring must have sessionId or userId' } },
  });
  t.strictSame(await http('GET', '/v1/nothing'), { status: 404, body: { error: { code: 'ATTUNE_ERR_NOT_FOUND', message: 'no route GET /v1/nothing' } } });
  const bad = await http('POST', '/v1/events', { sessionId: 's', eventList: [{ eventType: 'view', itemId: 'a', sentAt: 'never' }] });
  t.strictSame(bad, { status: 400, body: { error: { code: 'ATTUNE_ERR_VALIDATION', message: 'body.eventList.0.sentAt must be epoch milliseconds or an ISO-8601 date (time optional)' } } });
});

t.test('GET recommendations: numResults, cold start and metrics', async (t) => {
  const res = await http('GET', '/v1/recommendations?userId=nobody-yet');
  t.equal(res.status, 200);
  t.equal((res.body.items as unknown[]).length, 25, 'default numResults is 25');
  t.equal(res.body.source, 'popular');
  const text = await (await fetch(server.url + '/metrics')).text();
  for (const name of ['attune_recommendation_latency_seconds_bucket', 'attune_put_events_requests_total', 'attune_event_to_push_seconds_bucket', 'attune_live_actors']) {
    t.match(text, name);
  }
  t.match(text, /attune_put_events_requests_total\{transport="socket",outcome="accepted"\} [1-9]/);
  t.match(text, /attune_event_to_push_seconds_count\{arm="live"\} [1-9]/);
});
