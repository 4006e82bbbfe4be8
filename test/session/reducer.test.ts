import t from 'tap';
import { categoryWeights, defaultReducerConfig, initialState, itemWeights, mergeStates, reduce, weightsAt, type ReducerConfig, type SessionState } from '../../src/session/state.js';
import { interaction, merge } from '../helpers.js';

const config: ReducerConfig = {
  ...defaultReducerConfig,
  halfLifeMs: 1000,
  recentMax: 3,
  itemWeightsMax: 3,
  categoriesMax: 2,
  purchasedMax: 2,
  eventWeights: { view: 1, purchase: 5 },
  defaultEventWeight: 2,
};

/** The state as people read it: weights decayed to the state's own time instead of forward sums. */
const view = (s: SessionState) => ({
  eventCount: s.eventCount,
  lastEventId: s.lastEventId,
  lastEventAt: s.lastEventAt,
  recent: s.recent,
  itemWeights: itemWeights(s),
  categoryAffinity: categoryWeights(s),
  eventCounts: s.eventCounts,
  purchased: s.purchased,
  impressions: s.impressions,
  itemEventTypes: s.itemEventTypes,
});

const fold = (entries: Parameters<typeof reduce>[1][], from: SessionState = initialState()): SessionState =>
  entries.reduce((s, e) => reduce(s, e, config), from);

t.test('each event decays the state to its own time, then adds its weight', async (t) => {
  const s1 = fold([interaction('1-0', 'view', 'A', 0, 'x')]);
  t.strictSame(s1, {
    eventCount: 1,
    lastEventId: '1-0',
    lastEventAt: 0,
    decayShift: 0,
    recent: [['A', 0]],
    itemSums: [['A', 1]],
    categorySums: [['x', 1]],
    eventCounts: [['view', 1]],
    purchased: [],
    impressions: [],
    itemEventTypes: [['A', ['view']]],
  });

  // One half-life later: A halves, B arrives at full weight.
  const s2 = reduce(s1, interaction('2-0', 'view', 'B', 1000, 'y'), config);
  t.strictSame(itemWeights(s2), [['B', 1], ['A', 0.5]]);
  t.strictSame(categoryWeights(s2), [['y', 1], ['x', 0.5]]);
  t.strictSame(s2.recent, [['A', 0], ['B', 1000]]);
  // Forward decay: one half-life later the new event adds 2^1, and A's entry is left as it was.
  t.strictSame(s2.itemSums, [['B', 2], ['A', 1]]);
  t.equal(s2.decayShift, 1);
  t.equal(s2.itemSums[1], s1.itemSums[0], 'the untouched entry is shared, not copied');

  // A purchase weighs 5 and enters the purchased list; revisiting A moves it to the end of recent.
  const s3 = reduce(s2, interaction('3-0', 'purchase', 'A', 2000, 'x'), config);
  t.strictSame(view(s3), {
    eventCount: 3,
    lastEventId: '3-0',
    lastEventAt: 2000,
    recent: [['B', 1000], ['A', 2000]],
    itemWeights: [['A', 5.25], ['B', 0.5]],
    categoryAffinity: [['x', 5.25], ['y', 0.5]],
    eventCounts: [['purchase', 1], ['view', 2]],
    purchased: ['A'],
    impressions: [],
    // A's types sorted; the last touched item is last.
    itemEventTypes: [['B', ['view']], ['A', ['purchase', 'view']]],
  });
});

t.test('an event older than the state counts as now, and bounds drop the lightest entries', async (t) => {
  const s = fold([
    interaction('1-0', 'view', 'A', 0, 'x'),
    interaction('2-0', 'view', 'B', 1000, 'y'),
    interaction('3-0', 'purchase', 'A', 2000, 'x'),
    interaction('4-0', 'view', 'C', 1500),
    interaction('5-0', 'view', 'D', 2000, 'z'),
  ]);
  t.strictSame(view(s), {
    eventCount: 5,
    lastEventId: '5-0',
    lastEventAt: 2000,
    // recentMax 3 drops B; C (sent at 1500) was recorded at the state's time, 2000.
    recent: [['A', 2000], ['C', 2000], ['D', 2000]],
    // itemWeightsMax 3 drops B (0.5); C and D tie at 1 and sort by id.
    itemWeights: [['A', 5.25], ['C', 1], ['D', 1]],
    // C has no category; categoriesMax 2 drops y.
    categoryAffinity: [['x', 5.25], ['z', 1]],
    eventCounts: [['purchase', 1], ['view', 4]],
    purchased: ['A'],
    impressions: [],
    // itemWeightsMax 3 keeps the three most recently touched items: B (touched before A's purchase) drops.
    itemEventTypes: [['A', ['purchase', 'view']], ['C', ['view']], ['D', ['view']]],
  });
});

t.test('unknown event types use the default weight; purchased keeps the latest', async (t) => {
  const s = fold([
    interaction('1-0', 'purchase', 'A', 0),
    interaction('2-0', 'purchase', 'E', 0),
    interaction('3-0', 'wishlist', 'F', 0),
    interaction('4-0', 'purchase', 'B', 0),
  ]);
  t.strictSame(s.purchased, ['E', 'B']);
  t.strictSame(itemWeights(s), [['A', 5], ['B', 5], ['E', 5]]);
  t.strictSame(s.eventCounts, [['purchase', 3], ['wishlist', 1]]);
  t.equal(itemWeights(reduce(initialState(), interaction('1-0', 'wishlist', 'F', 0), config))[0][1], 2);
});

t.test('the reducer is pure: same entries, same state, inputs untouched', async (t) => {
  const entries = [interaction('1-0', 'view', 'A', 10, 'x'), interaction('2-0', 'view', 'B', 500, 'x')];
  const before = initialState();
  const frozen = JSON.stringify(before);
  t.strictSame(fold(entries, before), fold(entries, before));
  t.equal(JSON.stringify(before), frozen);
});

t.test('merge: both states decayed to the later clock, then summed', async (t) => {
  const user = fold([interaction('1-0', 'view', 'A', 0, 'x'), interaction('2-0', 'purchase', 'P', 0, 'x')]);
  const anon = fold([interaction('1-0', 'view', 'B', 1000, 'y'), interaction('2-0', 'view', 'A', 1000, 'x')]);
  const merged = mergeStates(user, anon, config);
  t.strictSame(view(merged), {
    eventCount: 4,
    lastEventId: '2-0',
    lastEventAt: 1000,
    recent: [['P', 0], ['A', 1000], ['B', 1000]],
    // user's P 5 -> 2.5, A 1 -> 0.5 (+1 from anon) = 1.5; anon's B 1.
    itemWeights: [['P', 2.5], ['A', 1.5], ['B', 1]],
    categoryAffinity: [['x', 4], ['y', 1]],
    eventCounts: [['purchase', 1], ['view', 3]],
    purchased: ['P'],
    impressions: [],
    // The anonymous state has the later clock: its items are the more recent.
    itemEventTypes: [['P', ['purchase']], ['B', ['view']], ['A', ['view']]],
  });

  // As a log entry, the merge also advances lastEventId.
  const viaLog = reduce(user, merge('3-0', anon), config);
  t.strictSame(viaLog, { ...merged, lastEventId: '3-0' });
});

t.test('weightsAt decays without changing the state', async (t) => {
  const s = fold([interaction('1-0', 'view', 'A', 0)]);
  t.strictSame(weightsAt(s, 2000, config), [['A', 0.25]]);
  t.strictSame(itemWeights(s), [['A', 1]]);
});

t.test('sums are rebased before 2^shift could overflow, with the same weights', async (t) => {
  // 600 half-lives between events: without a rebase the second sum would be 2^600 and growing.
  const s = fold([interaction('1-0', 'view', 'A', 0), interaction('2-0', 'view', 'B', 600_000), interaction('3-0', 'view', 'C', 600_001)]);
  t.ok(s.decayShift < 1, `shift ${s.decayShift} was rebased`);
  const weights = itemWeights(s);
  t.strictSame(weights.map(([id]) => id), ['C', 'B', 'A']);
  t.ok(Math.abs(weights[0][1] - 1) < 1e-12);
  t.ok(Math.abs(weights[1][1] - Math.pow(2, -0.001)) < 1e-12);
  t.ok(Math.abs(weights[2][1] / Math.pow(2, -600.001) - 1) < 1e-9, 'A has decayed by 600 half-lives, still exactly');
});

t.test('position decay: every later event multiplies the weights, whatever the time', async (t) => {
  const byPosition: ReducerConfig = { ...config, halfLifeMs: 1000, positionDecay: 0.5, itemWeightsMax: 10 };
  const s = [interaction('1-0', 'view', 'A', 0, 'x'), interaction('2-0', 'view', 'B', 0, 'y'), interaction('3-0', 'view', 'C', 1000)].reduce(
    (state, e) => reduce(state, e, byPosition),
    initialState(),
  );
  // A: 1 -> 0.5 (position) -> 0.125 (position and one half-life); B: 1 -> 0.25; C: 1.
  t.strictSame(itemWeights(s), [['C', 1], ['B', 0.25], ['A', 0.125]]);
  t.strictSame(categoryWeights(s), [['y', 0.25], ['x', 0.125]]);
});
