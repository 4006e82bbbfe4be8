import t from 'tap';
import { ListCache } from '../../src/cache/list-cache.js';
import { MemorySharedLayer } from '../../src/cache/shared-layer.js';
import { mergeConfig } from '../../src/config.js';
import type { ListOptions } from '../../src/model/recommend.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { ConsentGate } from '../../src/privacy/consent-gate.js';
import { RANKING_FILTER, Recommendations, UnknownItemError } from '../../src/serving/index.js';
import { userKey } from '../../src/session/events.js';
import type { SessionState } from '../../src/session/state.js';
import { createMemoryStores } from '../../src/store/memory.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { ids, servedScorer, servingFixture, stubCatalog } from './fixture.js';

const views = (...items: string[]) => items.map((itemId, i) => ({ eventType: 'view', itemId, sentAt: 1_000_000 + i * 1000 }));

/** History in the log of a user whose actor is not live here (as after an import or on another node). */
async function storedHistory(fixture: ReturnType<typeof servingFixture>, userId: string, ...items: string[]): Promise<void> {
  await fixture.host.appendHistory(userKey(userId), views(...items).map((event) => ({ kind: 'interaction' as const, sessionId: `s-${userId}`, ...event, receivedAt: event.sentAt })));
}

t.test('stateFor: the state of the key a visitor names, none for no one, no history or an opted-out user', async (t) => {
  const fixture = servingFixture(t);
  const { recommendations, host, optOut } = fixture;
  t.equal(await recommendations.stateFor({}), null);
  t.equal(await recommendations.stateFor({ userId: 'nobody' }), null);
  await host.ingest({ sessionId: 's1', userId: 'u1' }, views('m1', 'm2'));
  t.equal((await recommendations.stateFor({ userId: 'u1' }))?.eventCount, 2);
  t.equal((await recommendations.stateFor({ sessionId: 's1' }))?.eventCount, 2, 'a session follows the user it was identified as');
  t.equal(await recommendations.keyOf({ sessionId: 's1' }), userKey('u1'));
  t.equal(await recommendations.keyOf({}), null);
  await optOut('u1');
  t.equal(await recommendations.stateFor({ userId: 'u1' }), null, 'opted out: lists ignore the history');
});

t.test('list: a live actor is always current; other keys go through the cache, which applies stock when serving', async (t) => {
  const fixture = servingFixture(t);
  const { recommendations, host, catalog } = fixture;
  await t.rejects(recommendations.list({ who: {}, n: 3, options: {}, cache: 'shared' }), { code: 'ATTUNE_ERR_MISSING_IDENTITY' });
  await t.rejects(recommendations.list({ who: {}, n: 3, options: {}, cache: 'none' }), { code: 'ATTUNE_ERR_MISSING_IDENTITY' });

  await host.ingest({ sessionId: 'live' }, views('m1'));
  t.ok(host.isLive('s:live'));
  const live = await recommendations.list({ who: { sessionId: 'live' }, n: 3, options: {}, cache: 'shared' });
  t.strictSame([ids(live.list), live.list.source, live.cache], [['m1', 'm2', 'm3'], 'model', 'bypass']);

  await storedHistory(fixture, 'stored', 'm1');
  t.notOk(host.isLive(userKey('stored')));
  const first = await recommendations.list({ who: { userId: 'stored' }, n: 3, options: {}, cache: 'shared' });
  t.strictSame([ids(first.list), first.list.source, first.cache], [['m1', 'm2', 'm3'], 'model', 'computed']);
  const again = await recommendations.list({ who: { userId: 'stored' }, n: 3, options: {}, cache: 'shared' });
  t.strictSame([ids(again.list), again.cache], [['m1', 'm2', 'm3'], 'local']);
  t.not(again.list.recommendationId, first.list.recommendationId, 'each answer is its own recommendation');

  catalog.apply([{ itemId: 'm2', title: 'm2', category: 'model', price: 1, inStock: false }]);
  const restocked = await recommendations.list({ who: { userId: 'stored' }, n: 3, options: {}, cache: 'shared' });
  t.strictSame([ids(restocked.list), restocked.cache], [['m1', 'm3', 'm4'], 'local'], 'the cached spares fill in for an item gone out of stock');
  const withOutOfStock = await recommendations.list({ who: { userId: 'stored' }, n: 3, options: { filter: { ...RANKING_FILTER, excludeOutOfStock: false } }, cache: 'shared' });
  t.strictSame([ids(withOutOfStock.list), withOutOfStock.cache], [['m1', 'm2', 'm3'], 'computed'], 'other options, another cached list');

  const unknown = await recommendations.list({ who: { sessionId: 'new' }, n: 3, options: {}, cache: 'shared' });
  t.strictSame([ids(unknown.list), unknown.list.source, unknown.cache], [['p1', 'p2', 'p3'], 'popular', 'computed'], 'a key with no history: the popular items');

  const uncached = await recommendations.list({ who: { userId: 'stored' }, n: 3, options: {}, cache: 'none' });
  t.strictSame([ids(uncached.list), uncached.cache], [['m1', 'm3', 'm4'], 'bypass'], 'no cache asked: computed');
});

t.test("list: an opted-out user's list is the popular one, never cached; with no cache every list is computed", async (t) => {
  const fixture = servingFixture(t, { cache: false });
  await storedHistory(fixture, 'u-out', 'm1');
  const before = await fixture.recommendations.list({ who: { userId: 'u-out' }, n: 2, options: {}, cache: 'shared' });
  t.strictSame([ids(before.list), before.list.source, before.cache], [['m1', 'm2'], 'model', 'bypass']);
  await fixture.optOut('u-out');
  const after = await fixture.recommendations.list({ who: { userId: 'u-out' }, n: 2, options: {}, cache: 'shared' });
  t.strictSame([ids(after.list), after.list.source, after.cache], [['p1', 'p2'], 'popular', 'bypass']);

  const cached = servingFixture(t);
  await storedHistory(cached, 'u-out', 'm1');
  await cached.optOut('u-out');
  const served = await cached.recommendations.list({ who: { userId: 'u-out' }, n: 2, options: {}, cache: 'shared' });
  t.strictSame([ids(served.list), served.cache], [['p1', 'p2'], 'bypass']);
});

t.test('list: options built from the state get the state the list is for', async (t) => {
  const fixture = servingFixture(t);
  await storedHistory(fixture, 'u1', 'm1', 'm2');
  const seen: Array<SessionState | null> = [];
  const options = async (state: SessionState | null): Promise<ListOptions> => {
    seen.push(state);
    return { allow: (itemId) => itemId !== 'm1' };
  };
  const served = await fixture.recommendations.list({ who: { userId: 'u1' }, n: 3, options, cache: 'none' });
  t.strictSame([ids(served.list), served.cache], [['m2', 'm3', 'm4'], 'bypass']);
  t.equal(seen[0]?.eventCount, 2);
  await fixture.optOut('u1');
  await fixture.recommendations.list({ who: { userId: 'u1' }, n: 3, options, cache: 'none' });
  t.equal(seen[1], null, 'an opted-out user: no state');
});

t.test("list: with the stores down, a session's list is the cache's fallback rather than an error", async (t) => {
  const config = mergeConfig({});
  const metrics = createMetrics();
  const down = async (): Promise<never> => {
    throw new StoreUnavailableError('redis is down');
  };
  const catalog = stubCatalog();
  const deps = {
    host: { resolveKey: down, currentState: down, isLive: () => false },
    consent: new ConsentGate(createMemoryStores().consent),
    catalog,
    modelFor: () => ({ scorer: servedScorer(), arm: 'live' as const }),
  };
  const lists = { recommendations: new ListCache('recommendations', new MemorySharedLayer(), config.cache, metrics, catalog, () => {}), related: new ListCache('related', new MemorySharedLayer(), config.cache, metrics, catalog, () => {}) };
  const served = await new Recommendations({ ...deps, lists }).list({ who: { sessionId: 's1' }, n: 2, options: {}, cache: 'shared' });
  t.strictSame([ids(served.list), served.list.source, served.cache], [['p1', 'p2'], 'popular', 'fallback']);
  await t.rejects(new Recommendations({ ...deps, lists: null }).list({ who: { sessionId: 's1' }, n: 2, options: {}, cache: 'shared' }), StoreUnavailableError, 'no cache: the failure');
});

t.test('related: an unknown item is refused; anonymous lists are shared, a visitor’s are their own', async (t) => {
  const fixture = servingFixture(t);
  const { recommendations, host } = fixture;
  const refused = await recommendations.related({ itemId: 'zz', who: {}, n: 3, options: {}, cache: 'shared' }).then(
    () => null,
    (err: unknown) => err,
  );
  t.type(refused, UnknownItemError);
  t.match(refused, { code: 'ATTUNE_ERR_NOT_FOUND', message: 'item zz is neither in the catalog nor in the model' });
  t.ok(recommendations.knowsItem('p1'), 'an item of the catalog only');

  const first = await recommendations.related({ itemId: 'm1', who: {}, n: 3, options: {}, cache: 'shared' });
  t.strictSame([ids(first.list), first.cache], [['m2', 'm3', 'm4'], 'computed'], 'never the item itself');
  const again = await recommendations.related({ itemId: 'm1', who: {}, n: 3, options: {}, cache: 'shared' });
  t.equal(again.cache, 'local');

  await host.ingest({ sessionId: 's1' }, views('m2'));
  const personal = await recommendations.related({ itemId: 'm1', who: { sessionId: 's1' }, n: 3, options: { filter: { ...RANKING_FILTER, excludeSeen: true } }, cache: 'shared' });
  t.strictSame([ids(personal.list), personal.cache], [['m3', 'm4'], 'bypass'], "filtered by the visitor's own history");
});

t.test('rank: the caller’s items by the visitor’s scores; nothing is dropped unless asked', async (t) => {
  const fixture = servingFixture(t);
  const { recommendations, catalog } = fixture;
  await storedHistory(fixture, 'u1', 'm1');
  catalog.apply([{ itemId: 'm3', title: 'm3', category: 'model', price: 1, inStock: false }]);
  const inputList = ['p1', 'm3', 'm2'];
  t.strictSame(ids(await recommendations.rank({ who: { userId: 'u1' }, inputList, options: {} })), ['m2', 'm3', 'p1'], 'known items by score, then the rest as given; out of stock kept');
  t.strictSame(ids(await recommendations.rank({ who: {}, inputList, options: {} })), ['p1', 'm3', 'm2'], 'no visitor: by popularity');
  t.strictSame(ids(await recommendations.rank({ who: { userId: 'u1' }, inputList, n: 1, options: { filter: { ...RANKING_FILTER, excludeOutOfStock: true } } })), ['m2']);
  const allowed = await recommendations.rank({ who: { userId: 'u1' }, inputList, options: async (state) => ({ allow: (itemId) => state !== null && itemId !== 'm2' }) });
  t.strictSame(ids(allowed), ['m3', 'p1'], "options built from the user's state");
});
