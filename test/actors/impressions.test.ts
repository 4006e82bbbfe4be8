import { IMPRESSION_PENALTY } from '../../src/model/recommend.js';
import { Packr } from 'msgpackr';
import t from 'tap';
import { ActorHost, type RecommendationsPush } from '../../src/actors/actor-host.js';
import { sessionKey, type InteractionEntry } from '../../src/session/events.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/session/snapshot.js';
import {
  defaultReducerConfig,
  eventTypesOf,
  initialState,
  mergeStates,
  reduce,
  upgradeState,
  type ReducerConfig,
  type SessionState,
  type StoredSessionState,
} from '../../src/session/state.js';
import { mergeConfig } from '../../src/config.js';
import { demoCatalog } from '../../src/demo/catalog.js';
import { CatalogIndex } from '../../src/model/catalog.js';
import { Scorer } from '../../src/model/scorer.js';
import { servingModel } from '../../src/model/serving-model.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { createMemoryStores } from '../../src/store/memory.js';
import { bodyAjv, eventSchema } from '../../src/transport/schemas.js';
import { replayKey } from '../../src/ops/session-replay.js';
import { demoModelDir, waitFor } from '../helpers.js';

const config: ReducerConfig = { ...defaultReducerConfig, halfLifeMs: 1000, impressionsMax: 3, itemWeightsMax: 3 };

/** An interaction at time 0 (so every weight stays whole), with what was shown beside it. */
function shown(eventId: string, eventType: string, itemId: string, impression?: string[], sentAt = 0): InteractionEntry {
  return { kind: 'interaction', eventId, sessionId: 'sess', eventType, itemId, sentAt, receivedAt: sentAt, ...(impression === undefined ? {} : { impression }) };
}

const fold = (entries: InteractionEntry[], from: SessionState = initialState(), with_: ReducerConfig = config): SessionState =>
  entries.reduce((s, e) => reduce(s, e, with_), from);

t.test('defaults: 200 impressions kept, a showing halves the score', async (t) => {
  t.equal(defaultReducerConfig.impressionsMax, 200);
  t.equal(IMPRESSION_PENALTY, 0.5);
  t.strictSame(initialState().impressions, []);
  t.strictSame(initialState().itemEventTypes, []);
});

t.test('every item shown with an event counts once more, except the event item; the latest showing is last', async (t) => {
  const s1 = fold([shown('1-0', 'view', 'A', ['A', 'B', 'C'])]);
  t.strictSame(s1, {
    eventCount: 1,
    lastEventId: '1-0',
    lastEventAt: 0,
    decayShift: 0,
    recent: [['A', 0]],
    itemSums: [['A', 1]],
    categorySums: [],
    eventCounts: [['view', 1]],
    purchased: [],
    impressions: [['B', 1], ['C', 1]],
    itemEventTypes: [['A', ['view']]],
  });

  // B twice in one impression counts once; B and C move after nothing, E is new and last.
  const s2 = reduce(s1, shown('2-0', 'view', 'D', ['B', 'C', 'E', 'B']), config);
  t.strictSame(s2.impressions, [['B', 2], ['C', 2], ['E', 1]]);

  // A later showing of B alone makes it the most recent.
  const s3 = reduce(s2, shown('3-0', 'view', 'D', ['B']), config);
  t.strictSame(s3.impressions, [['C', 2], ['E', 1], ['B', 3]]);
  t.strictSame(s3.itemEventTypes, [['A', ['view']], ['D', ['view']]], 'D touched again stays one entry');
});

t.test('an interaction with an impressed item clears it; shown again, it counts from one', async (t) => {
  const s = fold([shown('1-0', 'view', 'A', ['B', 'C']), shown('2-0', 'view', 'A', ['B', 'C'])]);
  t.strictSame(s.impressions, [['B', 2], ['C', 2]]);

  // A click on C, with nothing shown: C was engaged with.
  const clicked = reduce(s, shown('3-0', 'click', 'C'), config);
  t.strictSame(clicked.impressions, [['B', 2]]);

  // An event on B that also shows C: B leaves, C is back at one.
  const again = reduce(clicked, shown('4-0', 'view', 'B', ['C', 'B']), config);
  t.strictSame(again, {
    eventCount: 4,
    lastEventId: '4-0',
    lastEventAt: 0,
    decayShift: 0,
    recent: [['A', 0], ['C', 0], ['B', 0]],
    // A viewed twice; C and B once each (click weighs 1), ties by id.
    itemSums: [['A', 2], ['B', 1], ['C', 1]],
    categorySums: [],
    eventCounts: [['click', 1], ['view', 3]],
    purchased: [],
    impressions: [['C', 1]],
    itemEventTypes: [['A', ['view']], ['C', ['click']], ['B', ['view']]],
  });
});

t.test('impressionsMax keeps the most recently shown items', async (t) => {
  // Within one event, the listed order is the showing order: P is the oldest of four.
  const s1 = fold([shown('1-0', 'view', 'A', ['P', 'Q', 'R', 'S'])]);
  t.strictSame(s1.impressions, [['Q', 1], ['R', 1], ['S', 1]]);
  const s2 = reduce(s1, shown('2-0', 'view', 'A', ['Q']), config);
  t.strictSame(s2.impressions, [['R', 1], ['S', 1], ['Q', 2]]);
  const s3 = reduce(s2, shown('3-0', 'view', 'A', ['T']), config);
  t.strictSame(s3.impressions, [['S', 1], ['Q', 2], ['T', 1]], 'R, shown least recently, drops');
  t.strictSame(fold([shown('1-0', 'view', 'A', ['P'])], initialState(), { ...config, impressionsMax: 0 }).impressions, [], 'a bound of 0 keeps none');
});

t.test('an event that shows nothing and touches no impressed item leaves the impressions as they were', async (t) => {
  const s1 = fold([shown('1-0', 'view', 'A', ['B'])]);
  const s2 = reduce(s1, shown('2-0', 'view', 'C'), config);
  t.equal(s2.impressions, s1.impressions, 'shared, not copied');
  const s3 = reduce(s2, shown('3-0', 'view', 'C'), config);
  t.equal(s3.itemEventTypes, s2.itemEventTypes, 'the same type on the last touched item changes nothing');
});

t.test('the reducer stays pure with impressions: inputs untouched, same entries same state', async (t) => {
  const impression = ['B', 'C'];
  const entries = [shown('1-0', 'view', 'A', impression), shown('2-0', 'click', 'B', ['A'])];
  const before = initialState();
  const frozen = JSON.stringify({ before, entries });
  t.strictSame(fold(entries, before), fold(entries, before));
  t.equal(JSON.stringify({ before, entries }), frozen);
  t.strictSame(impression, ['B', 'C']);
});

t.test('event types per item: sorted, bounded by itemWeightsMax, most recently touched kept', async (t) => {
  const s = fold([shown('1-0', 'view', 'A'), shown('2-0', 'view', 'B'), shown('3-0', 'click', 'A'), shown('4-0', 'purchase', 'C'), shown('5-0', 'view', 'D'), shown('6-0', 'add-to-cart', 'A')]);
  t.strictSame(s.itemEventTypes, [['C', ['purchase']], ['D', ['view']], ['A', ['add-to-cart', 'click', 'view']]]);
  t.strictSame([...eventTypesOf(s, 'A')], ['add-to-cart', 'click', 'view']);
  t.strictSame([...eventTypesOf(s, 'C')], ['purchase']);
  t.strictSame([...eventTypesOf(s, 'B')], [], 'B, touched least recently, dropped');
  t.strictSame([...eventTypesOf(s, 'never')], []);
  t.strictSame([...eventTypesOf(null, 'A')], [], 'no state, no types');
  t.ok(eventTypesOf(s, 'A').has('click'));
});

t.test('merge: the later state is the more recent; its interactions clear the other one\'s impressions', async (t) => {
  const user = fold([shown('1-0', 'view', 'U', ['X', 'Y'], 0)]);
  const anon = fold([shown('1-0', 'view', 'X', ['Y', 'Z'], 1000)]);
  const merged = mergeStates(user, anon, config);
  // X was shown to the user, then engaged with in the later session; Y shown in both.
  t.strictSame(merged.impressions, [['Y', 2], ['Z', 1]]);
  t.strictSame(merged.itemEventTypes, [['U', ['view']], ['X', ['view']]]);
  const reversed = mergeStates(anon, user, config);
  t.strictSame([reversed.impressions, reversed.itemEventTypes], [merged.impressions, merged.itemEventTypes], 'by clock, not by argument order');

  // The earlier state's interactions do not clear what the later one showed.
  const earlyClick = fold([shown('1-0', 'click', 'Y', undefined, 0)]);
  const lateShow = fold([shown('1-0', 'view', 'U', ['Y'], 1000)]);
  t.strictSame(mergeStates(earlyClick, lateShow, config).impressions, [['Y', 1]]);
  t.strictSame(mergeStates(earlyClick, lateShow, config).itemEventTypes, [['Y', ['click']], ['U', ['view']]]);

  // Both bounds hold across a merge.
  const many = fold([shown('1-0', 'view', 'A', ['P', 'Q']), shown('2-0', 'view', 'B', ['R'])], initialState(), { ...config, impressionsMax: 10 });
  const more = fold([shown('1-0', 'view', 'C', ['S', 'T'], 5), shown('2-0', 'view', 'D', [], 5)], initialState(), { ...config, impressionsMax: 10 });
  const bounded = mergeStates(many, more, config);
  t.strictSame(bounded.impressions, [['R', 1], ['S', 1], ['T', 1]]);
  t.strictSame(bounded.itemEventTypes, [['B', ['view']], ['C', ['view']], ['D', ['view']]]);
});

t.test('a merge entry written before the new fields existed folds in with them empty', async (t) => {
  const user = fold([shown('1-0', 'view', 'U', ['X'], 0)]);
  const { impressions: _i, itemEventTypes: _e, ...old } = fold([shown('1-0', 'view', 'X', undefined, 1000), shown('2-0', 'view', 'W', undefined, 1000)]);
  const oldShape: StoredSessionState = old;
  const after = reduce(user, { kind: 'merge', eventId: '2-0', fromKey: 's:anon', receivedAt: 0, state: oldShape }, config);
  t.strictSame(after.impressions, [['X', 1]], 'no types are known for the old state, so nothing of it clears X');
  t.strictSame(after.itemEventTypes, [['U', ['view']]]);
  t.equal(after.eventCount, 3);
  t.strictSame(upgradeState(oldShape), { ...old, impressions: [], itemEventTypes: [] });
});

t.test('snapshots: a v1 snapshot written before the new fields decodes with them empty; new ones round-trip', async (t) => {
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  const state = fold([shown('1-0', 'view', 'A', ['B']), shown('2-0', 'purchase', 'A')]);
  const { impressions: _i, itemEventTypes: _e, ...old } = state;
  const bytes = packr.pack({ v: 1, key: 's:old', userId: null, state: old });
  const decoded = decodeSnapshot({ key: 's:old', lastEventId: '2-0', bytes });
  t.strictSame(decoded, { v: 1, key: 's:old', userId: null, state: { ...old, impressions: [], itemEventTypes: [] } });
  // Folding on from the decoded state works as from any state.
  t.strictSame(reduce(decoded.state, shown('3-0', 'view', 'C', ['D']), config).impressions, [['D', 1]]);

  const roundTrip = decodeSnapshot(encodeSnapshot({ v: 1, key: 's:new', userId: 'u1', state: reduce(state, shown('3-0', 'view', 'C', ['D', 'E']), config) }));
  t.strictSame(roundTrip.state.impressions, [['B', 1], ['D', 1], ['E', 1]]);
  t.strictSame(roundTrip.state.itemEventTypes, [['A', ['purchase', 'view']], ['C', ['view']]]);
  t.throws(() => decodeSnapshot({ key: 's:bad', lastEventId: null, bytes: packr.pack({ v: 2, key: 's:bad', state: {} }) }), /not a v1 actor snapshot/);
});

t.test('the event schema accepts impression and recommendationId within their bounds', async (t) => {
  const validate = bodyAjv.compile(eventSchema);
  const ok = (extra: Record<string, unknown>) => validate({ eventType: 'click', itemId: 'a', ...extra });
  t.equal(ok({ impression: ['a', 'b'], recommendationId: 'rid-1' }), true);
  t.equal(ok({ impression: [] }), true, 'an empty impression shows nothing');
  t.equal(ok({ impression: Array.from({ length: 100 }, (_, i) => `i${i}`) }), true);
  t.equal(ok({ impression: Array.from({ length: 101 }, (_, i) => `i${i}`) }), false, 'at most 100');
  t.equal(ok({ impression: [''] }), false, 'ids are non-empty');
  t.equal(ok({ impression: ['x'.repeat(257)] }), false, 'ids are at most 256 characters');
  t.equal(ok({ impression: 'a' }), false, 'a list, not a string');
  t.equal(ok({ recommendationId: 'x'.repeat(256) }), true);
  t.equal(ok({ recommendationId: 'x'.repeat(257) }), false);
  t.equal(ok({ recommendationId: '' }), false);
});

t.test('ingest writes impression and recommendationId to the log when sent, and nothing when not', async (t) => {
  const appConfig = mergeConfig({ actors: { idleMs: 60_000, passivateMs: 60_000 }, pushSize: 10 });
  const stores = createMemoryStores();
  const scorer = await Scorer.load(await demoModelDir());
  const model = servingModel(scorer, appConfig.reducer);
  const host = new ActorHost({ config: appConfig, stores, catalog: new CatalogIndex(demoCatalog()), model: () => model, metrics: createMetrics(), onError: () => {} });
  t.teardown(async () => {
    await host.stop();
    await scorer.close();
  });
  const impression = ['shoes-002', 'shoes-003'];
  const [withBoth, without] = await host.ingest({ sessionId: 'imp' }, [
    { eventType: 'click', itemId: 'shoes-001', sentAt: 1000, impression, recommendationId: 'rec-1' },
    { eventType: 'view', itemId: 'shoes-002', sentAt: 2000 },
  ]);
  t.strictSame(withBoth.impression, impression);
  t.not(withBoth.impression, impression, 'a copy, not the caller\'s array');
  t.equal(withBoth.recommendationId, 'rec-1');
  t.notOk('impression' in without || 'recommendationId' in without, 'absent fields stay absent');
  const logged = await stores.log.read(sessionKey('imp'), null);
  t.strictSame(logged, [withBoth, without]);
  const state = await host.currentState(sessionKey('imp'));
  t.strictSame(state.impressions, [['shoes-003', 1]], 'shoes-002 was shown, then viewed');
  t.strictSame(state.itemEventTypes, [['shoes-001', ['click']], ['shoes-002', ['view']]]);
});

t.test('shown-and-skipped items leave the pushed lists, and a replay reproduces every push', async (t) => {
  const appConfig = mergeConfig({ actors: { idleMs: 60_000, passivateMs: 60_000 }, pushSize: 10 });
  const stores = createMemoryStores();
  const catalog = new CatalogIndex(demoCatalog());
  const scorer = await Scorer.load(await demoModelDir());
  const model = servingModel(scorer, appConfig.reducer);
  const pushes: RecommendationsPush[] = [];
  const host = new ActorHost({ config: appConfig, stores, catalog, model: () => model, metrics: createMetrics(), onError: () => {} });
  host.onPush((_room, push) => pushes.push(push));
  t.teardown(async () => {
    await host.stop();
    await scorer.close();
  });
  const key = sessionKey('shown');
  // Each event answers the list pushed before it: the first of its items is viewed, the rest were shown.
  await host.ingest({ sessionId: 'shown' }, [{ eventType: 'view', itemId: 'shoes-001', sentAt: 1000 }]);
  await waitFor('the first push', () => pushes.length === 1);
  for (let i = 0; i < 4; i++) {
    const last = pushes[pushes.length - 1];
    const [viewed, ...skipped] = last.items.map((item) => item.itemId);
    const [entry] = await host.ingest({ sessionId: 'shown' }, [{ eventType: 'view', itemId: viewed, sentAt: 2000 + i * 1000, impression: [viewed, ...skipped], recommendationId: last.recommendationId }]);
    await waitFor(`the push for ${entry.eventId}`, () => pushes.some((p) => p.cause?.eventId === entry.eventId));
    const next = pushes[pushes.length - 1].items.map((item) => item.itemId);
    const state = await host.currentState(key);
    const counts = new Map(state.impressions);
    // A skipped item shown n times scores 2^-n of its score: it leaves the top unless far ahead.
    t.ok(skipped.some((id) => !next.includes(id)), `event ${i + 1}: some skipped item left the list`);
    t.ok(skipped.every((id) => (counts.get(id) ?? 0) >= 1), `event ${i + 1}: every skipped item is counted as shown`);
  }
  const timeline = await replayKey({ key, entries: await stores.log.read(key, null), pushes: await stores.pushes.read(key), scorer, catalog, reducer: model.reducer, listSize: 10 });
  t.equal(timeline.pushes.withEvent, 5);
  t.equal(timeline.pushes.reproduced, 5, 'every recorded push reproduced exactly');
});
