import t from 'tap';
import type { InteractionEntry } from '../../src/session/events.js';
import { initialState, reduce, type SessionState } from '../../src/session/state.js';
import { CatalogIndex } from '../../src/model/catalog.js';
import { defaultFilter } from '../../src/model/filters.js';
import { rankItems, recommendForState, relatedItems } from '../../src/model/recommend.js';
import type { ScoredItem } from '../../src/model/types.js';
import { stubScorer } from '../support/stub-scorer.js';


const MODEL: Array<[string, number]> = [['a', 10], ['b', 9], ['c', 8], ['d', 7], ['e', 6], ['f', 5], ['g', 4], ['h', 3]];
const catalog = new CatalogIndex(MODEL.map(([itemId]) => ({ itemId, title: itemId, category: 'any', price: 1, inStock: true })));

const event = (eventId: string, itemId: string, impression?: string[]): InteractionEntry => ({
  kind: 'interaction',
  eventId,
  sessionId: 'sess',
  eventType: 'view',
  itemId,
  sentAt: 0,
  receivedAt: 0,
  ...(impression === undefined ? {} : { impression }),
});

/** Viewed x (unknown to the model); was shown a once and b twice without engaging. */
const shownAB = [event('1-0', 'x', ['a', 'b']), event('2-0', 'x', ['b'])].reduce((s, e) => reduce(s, e), initialState());
/** A list's items with their scores, which are shares of the best candidate's score (the model's a: 10 here). */
const listOf = (list: { items: ScoredItem[] }) => list.items.map((i): [string, number] => [i.itemId, i.score]);

t.test('the state under test', async (t) => {
  t.strictSame(shownAB.impressions, [['a', 1], ['b', 2]]);
});

t.test('impressed items are demoted by penalty^count and the list re-sorted; scores are the adjusted ones', async (t) => {
  const scorer = stubScorer(MODEL);
  // a: 10 × 0.5 = 5, b: 9 × 0.25 = 2.25.
  t.strictSame(listOf(await recommendForState(scorer, catalog, shownAB, 3)), [['c', 0.8], ['d', 0.7], ['e', 0.6]]);
  // k = n + excluded (0) + impressed (2): enough that both may fall below n.
  t.strictSame(scorer.asked, [5]);
  // a ties f at 5 and keeps its place before f (stable: the model's order).
  t.strictSame(listOf(await recommendForState(scorer, catalog, shownAB, 5)), [['c', 0.8], ['d', 0.7], ['e', 0.6], ['a', 0.5], ['f', 0.5]]);
  t.strictSame(listOf(await recommendForState(scorer, catalog, shownAB, 8)), [['c', 0.8], ['d', 0.7], ['e', 0.6], ['a', 0.5], ['f', 0.5], ['g', 0.4], ['h', 0.3], ['b', 0.225]]);
  const list = await recommendForState(scorer, catalog, shownAB, 3);
  t.equal(list.source, 'model');
});

t.test('impressionPenalty from the options: 1 turns it off, 0.75 demotes less', async (t) => {
  const scorer = stubScorer(MODEL);
  t.strictSame(listOf(await recommendForState(scorer, catalog, shownAB, 3, { impressionPenalty: 1 })), [['a', 1], ['b', 0.9], ['c', 0.8]]);
  t.strictSame(scorer.asked, [3], 'nothing demoted, no extra candidates');
  // a: 7.5, b: 9 × 0.5625 = 5.0625.
  t.strictSame(listOf(await recommendForState(scorer, catalog, shownAB, 6, { impressionPenalty: 0.75 })), [['c', 0.8], ['a', 0.75], ['d', 0.7], ['e', 0.6], ['b', 0.50625], ['f', 0.5]]);
});

t.test('cold start with a state (no weighted items) demotes too; no state, no demotion', async (t) => {
  const popular: Array<[string, number]> = [['h', 80], ['g', 70], ['f', 60], ['e', 50], ['d', 40], ['c', 30], ['b', 20], ['a', 10]];
  const scorer = stubScorer(MODEL, popular);
  const coldWithImpressions: SessionState = { ...initialState(), impressions: [['h', 1]] };
  const cold = await recommendForState(scorer, catalog, coldWithImpressions, 4);
  t.strictSame(listOf(cold), [['g', 0.875], ['f', 0.75], ['e', 0.625], ['h', 0.5]]);
  t.equal(cold.source, 'popular');
  t.strictSame(listOf(await recommendForState(scorer, catalog, null, 3)), [['h', 1], ['g', 0.875], ['f', 0.75]]);
});

t.test('related items: demoted only when a state is given', async (t) => {
  const scorer = stubScorer(MODEL);
  t.strictSame(listOf(await relatedItems(scorer, catalog, 'h', null, 3)), [['a', 1], ['b', 0.9], ['c', 0.8]]);
  t.strictSame(listOf(await relatedItems(scorer, catalog, 'h', shownAB, 3)), [['c', 0.8], ['d', 0.7], ['e', 0.6]]);
  // Excluded: h itself; impressed: a, b.
  t.strictSame(scorer.asked, [4, 6]);
  t.strictSame(listOf(await relatedItems(scorer, catalog, 'c', shownAB, 4)), [['d', 0.7], ['e', 0.6], ['a', 0.5], ['f', 0.5]]);
});

t.test('ranking applies the demotion; unknown items stay last', async (t) => {
  const scorer = stubScorer(MODEL);
  const all = { ...defaultFilter, excludeOutOfStock: false, excludePurchased: false };
  t.strictSame(listOf(await rankItems(scorer, catalog, shownAB, ['b', 'zz', 'a', 'c'], 10, all)), [['c', 0.8], ['a', 0.5], ['b', 0.225], ['zz', 0]]);
  t.strictSame(listOf(await rankItems(scorer, catalog, shownAB, ['b', 'zz', 'a', 'c'], 10, all, undefined, 1)), [['a', 1], ['b', 0.9], ['c', 0.8], ['zz', 0]]);
  t.strictSame(listOf(await rankItems(scorer, catalog, null, ['b', 'a', 'c'], 10, all)), [['a', 1], ['b', 0.9], ['c', 0.8]], 'no state, no demotion');
});

t.test('a demoted candidate never stands in for better ones that were not asked for', async (t) => {
  // r1..r20 score 20..1; only r1, r2 (each shown three times) and r15, r16 are kept by the filter.
  const model: Array<[string, number]> = Array.from({ length: 20 }, (_, i) => [`r${i + 1}`, 20 - i]);
  const kept = new Set(['r1', 'r2', 'r15', 'r16']);
  const items = new CatalogIndex(model.map(([itemId]) => ({ itemId, title: itemId, category: kept.has(itemId) ? 'keep' : 'other', price: 1, inStock: true })));
  const shown = [event('1-0', 'x', ['r1', 'r2']), event('2-0', 'x', ['r1', 'r2']), event('3-0', 'x', ['r1', 'r2'])].reduce((s, e) => reduce(s, e), initialState());
  const scorer = stubScorer(model);
  const list = await recommendForState(scorer, items, shown, 2, { filter: { ...defaultFilter, includeCategories: ['keep'] } });
  // The first round (4n + 2 impressed = 10) finds r1 (2.5) and r2 (2.375), both below r10's 11: not settled.
  t.strictSame(scorer.asked, [10, 20]);
  t.strictSame(listOf(list), [['r15', 0.3], ['r16', 0.25]]);
});

t.test('promotions pick from the demoted order', async (t) => {
  const scorer = stubScorer(MODEL);
  const promotion = { name: 'ab', share: 0.4, allows: (id: string) => id === 'a' || id === 'b' || id === 'g' };
  const list = await recommendForState(scorer, catalog, shownAB, 5, { promotion });
  // Promoted: a (5) before g (4) before b (2.25); regular: c, d, e.
  t.strictSame(
    list.items.map((i) => [i.itemId, i.score, i.promotionName ?? null]),
    [['a', 0.5, 'ab'], ['c', 0.8, null], ['d', 0.7, null], ['g', 0.4, 'ab'], ['e', 0.6, null]],
  );
});

t.test('negative scores are demoted by the same amount a positive one of that size would be', async (t) => {
  const scorer = stubScorer([['p', 1], ['a', -1], ['q', -1.4], ['r', -1.6]]);
  const shownA: SessionState = { ...initialState(), itemSums: [['x', 1]], impressions: [['a', 1]] };
  // a: -1 - 0.5 × 1 = -1.5.
  t.strictSame(listOf(await recommendForState(scorer, new CatalogIndex(), shownA, 4)), [['p', 1], ['q', -1.4], ['a', -1.5], ['r', -1.6]]);
});

t.test('one scale for every list: shares of the best score its source gave, whatever the filters left', async (t) => {
  const scorer = stubScorer(MODEL, [['h', 80], ['g', 70], ['f', 60]]);
  const viewer: SessionState = { ...initialState(), itemSums: [['x', 1]] };
  t.strictSame(listOf(await recommendForState(scorer, catalog, viewer, 2)), [['a', 1], ['b', 0.9]], 'the model\'s best item scores 1');
  t.strictSame(listOf(await recommendForState(scorer, catalog, viewer, 2, { filter: { ...defaultFilter, excludeItems: ['a'] } })), [['b', 0.9], ['c', 0.8]], 'a filtered-out best item still sets the scale');
  t.strictSame(listOf(await recommendForState(scorer, catalog, null, 2)), [['h', 1], ['g', 0.875]], 'popular items: counts as shares of the top one');
  const nothing = stubScorer([['p', 0], ['q', 0]]);
  t.strictSame(listOf(await recommendForState(nothing, new CatalogIndex(), viewer, 2)), [['p', 0], ['q', 0]], 'a model that found nothing scores 0');
});
