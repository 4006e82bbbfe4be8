import t from 'tap';
import { sessionKey } from '../../src/session/events.js';
import { defaultFilter } from '../../src/model/filters.js';
import { formatTimeline, replayKey } from '../../src/ops/session-replay.js';
import type { RunningServer } from '../../src/server/start.js';
import { authHeaders, connectClient, demoModelDir, startLocalServer, testSecurity } from '../helpers.js';

async function replayOf(server: RunningServer, key: string, options = {}) {
  const model = server.model.get();
  return replayKey({
    key,
    entries: await server.stores.log.read(key, null),
    pushes: await server.stores.pushes.read(key),
    scorer: model.scorer,
    catalog: server.catalog,
    reducer: model.reducer,
    listSize: 20,
    options,
  });
}

t.test('a replay with the live model reproduces every recorded push exactly, and twice the same', async (t) => {
  const server = await startLocalServer({ pushSize: 20, security: testSecurity });
  t.teardown(() => server.close());
  const client = await connectClient(server.url, { sessionId: 'replayed' });
  t.teardown(() => client.close());
  await client.push();
  const events = [
    ['view', 'jackets-001'],
    ['view', 'jackets-002'],
    ['view', 'books-001'],
    ['add-to-cart', 'jackets-002'],
    ['purchase', 'jackets-002'],
    ['view', 'watches-003'],
    ['view', 'watches-004'],
  ];
  let last = '';
  for (const [eventType, itemId] of events) {
    const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType, itemId });
    last = ack.eventId;
    // One event at a time, so each is scored on its own (a burst is scored once, for its latest event).
    await client.push((p) => p.cause?.eventId === ack.eventId).catch(() => undefined);
  }
  await new Promise((r) => setTimeout(r, 100));
  const key = sessionKey('replayed');
  const recorded = await server.stores.pushes.read(key);
  t.ok(recorded.length >= 4, `${recorded.length} pushes recorded`);
  t.strictSame(recorded.map((p) => p.items), client.pushes.slice(1).map((p) => p.items.map((i) => i.itemId)), 'the record is what the socket received');

  const timeline = await replayOf(server, key);
  t.equal(timeline.steps.length, events.length);
  t.equal(timeline.steps.at(-1)?.eventId, last);
  t.equal(timeline.pushes.withEvent, recorded.filter((p) => p.cause !== null).length);
  t.equal(timeline.pushes.reproduced, timeline.pushes.withEvent, `every recorded push reproduced (${timeline.pushes.reproduced})`);
  t.ok(timeline.steps.every((step) => step.recorded === null || step.changed), 'a push is recorded only where the list changed');
  const purchase = timeline.steps[4];
  t.notOk(purchase.list.some((item) => item.itemId === 'jackets-002'), 'after the purchase the item leaves the list');
  t.equal(timeline.steps[1].categories[0].name, 'jackets');
  t.ok((timeline.steps[1].categories[0].before ?? 0) < timeline.steps[1].categories[0].weight, 'the category weight grew with the second view');

  const again = await replayOf(server, key);
  t.strictSame(again, timeline, 'deterministic');
  t.equal(formatTimeline(again), formatTimeline(timeline), 'the same text too');
  t.match(formatTimeline(timeline), /reproduced exactly: \d+/);
  t.ok(timeline.steps.every((step) => step.recorded === null || step.recorded.arm === 'live'), 'no experiment: every push names the live arm');
  t.match(formatTimeline(timeline), /pushed: the same list \(model \S+, arm live\)/, 'the text names the arm');
  // A push recorded before experiments has no arm: it was the live model's.
  const { arm: _dropped, ...older } = recorded[0];
  t.equal((await replayKey({ key, entries: await server.stores.log.read(key, null), pushes: [older], scorer: server.model.scorer, catalog: server.catalog, reducer: server.model.get().reducer, listSize: 20 })).steps.find((s) => s.recorded !== null)?.recorded?.arm, 'live');

  // What-if: the same events with another filter give other lists, which no longer match the pushes.
  const whatIf = await replayOf(server, key, { filter: { ...defaultFilter, includeCategories: ['books'] } });
  t.ok(whatIf.steps.every((step) => step.list.every((item) => server.catalog.get(item.itemId)?.category === 'books')));
  t.equal(whatIf.pushes.reproduced, 0, 'the what-if lists differ from every push');
});

t.test('GET /v1/admin/replay: the timeline over HTTP, what-if filters and models, clear errors', async (t) => {
  const modelDir = await demoModelDir();
  const server = await startLocalServer({ modelDir, security: testSecurity });
  t.teardown(() => server.close());
  const client = await connectClient(server.url, { sessionId: 'over-http' });
  t.teardown(() => client.close());
  await client.push();
  const ack = await client.emit<{ eventId: string }>('event', { eventType: 'view', itemId: 'plants-001' });
  await client.push((p) => p.cause?.eventId === ack.eventId);
  const get = async (query: string) => {
    const response = await fetch(`${server.url}/v1/admin/replay?${query}`, { headers: authHeaders });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const live = await get('sessionId=over-http');
  t.equal(live.status, 200);
  t.strictSame(live.body, JSON.parse(JSON.stringify(await replayOf(server, sessionKey('over-http')))), 'the same timeline as in process');
  t.match(live.body, { pushes: { recorded: 1, withEvent: 1, reproduced: 1 } });
  t.match(await get('sessionId=over-http&category=books'), { status: 200, body: { pushes: { reproduced: 0 } } }, 'a what-if filter');
  t.match(await get(`sessionId=over-http&modelDir=${encodeURIComponent(modelDir)}`), { status: 200, body: { pushes: { reproduced: 1 } } }, 'the same bundle loaded again reproduces the push');
  t.match(await get('sessionId=over-http&modelDir=/no/such/bundle'), { status: 400, body: { error: { code: 'ATTUNE_ERR_INVALID_MODEL' } } });
  t.match(await get('sessionId=never-seen'), { status: 404, body: { error: { code: 'ATTUNE_ERR_NOT_FOUND' } } });
  t.match(await get(''), { status: 400, body: { error: { code: 'ATTUNE_ERR_MISSING_IDENTITY' } } });
  t.match(await get('sessionId=x&colour=red'), { status: 400, body: { error: { code: 'ATTUNE_ERR_VALIDATION' } } });
});
