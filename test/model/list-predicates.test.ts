import t from 'tap';
import { initialState, reduce, type SessionState } from '../../src/session/state.js';
import { CatalogIndex } from '../../src/model/catalog.js';
import { buildFilter, defaultFilter, promotionFilter, withPredicate, type Promotion } from '../../src/model/filters.js';
import { rankItems, recommendForState, relatedItems, type RecommendationList } from '../../src/model/recommend.js';
import { stubScorer } from '../support/stub-scorer.js';


const MODEL: Array<[string, number]> = [['a', 10], ['b', 9], ['c', 8], ['d', 7], ['e', 6], ['f', 5], ['g', 4], ['h', 3]];
const CATEGORY: Record<string, string> = { a: 'shoes', b: 'shoes', c: 'bags', d: 'bags', e: 'books', f: 'books', g: 'watches', h: 'watches' };
const catalog = new CatalogIndex(MODEL.map(([itemId]) => ({ itemId, title: itemId, category: CATEGORY[itemId], price: 1, inStock: true })));
/** Viewed x, which the model does not know: a personalized list with nothing purchased or shown. */
const viewer: SessionState = reduce(initialState(), { kind: 'interaction', eventId: '1-0', sessionId: 's', eventType: 'view', itemId: 'x', sentAt: 0, receivedAt: 0 });
const ids = (list: RecommendationList) => list.items.map((i) => i.itemId);
const promotedIds = (list: RecommendationList) => list.items.map((i) => (i.promotionName === undefined ? i.itemId : `${i.itemId}*${i.promotionName}`));

t.test('withPredicate ANDs the predicate in and makes the exclusions open-ended', async (t) => {
  const base = buildFilter(catalog, null, { ...defaultFilter, excludeItems: ['a'] });
  t.equal(withPredicate(base, undefined), base, 'no predicate, the same filter');
  const both = withPredicate(base, (id) => id !== 'b');
  t.strictSame(['a', 'b', 'c', 'zz'].filter((id) => both.allows(id)), ['c', 'zz']);
  t.equal(both.maxExcluded, null);
  t.equal(base.maxExcluded, 1);
});

t.test('allow filters every list function, with the other filters', async (t) => {
  const notBagsOrA = (id: string) => id !== 'a' && CATEGORY[id] !== 'bags';
  const scorer = stubScorer(MODEL);
  t.strictSame(ids(await recommendForState(scorer, catalog, viewer, 3, { allow: notBagsOrA })), ['b', 'e', 'f']);
  t.strictSame(scorer.asked, [8], 'a predicate is open-ended: 4n candidates, capped at the catalog');
  t.strictSame(ids(await recommendForState(scorer, catalog, null, 3, { allow: notBagsOrA, filter: { ...defaultFilter, excludeItems: ['e'] } })), ['b', 'f', 'g'], 'cold start; AND-ed with excludeItems');
  t.strictSame(ids(await relatedItems(scorer, catalog, 'b', viewer, 3, { allow: notBagsOrA })), ['e', 'f', 'g'], 'related: not the item itself either');
  t.strictSame(ids(await recommendForState(scorer, catalog, viewer, 3, { allow: () => false })), [], 'nothing allowed, nothing listed');
  const all = { ...defaultFilter, excludeOutOfStock: false, excludePurchased: false };
  t.strictSame(ids(await rankItems(scorer, catalog, viewer, ['c', 'zz', 'b', 'a'], 10, all, notBagsOrA)), ['b', 'zz']);
  t.strictSame(ids(await rankItems(scorer, catalog, viewer, ['c', 'zz', 'b', 'a'], 10, all)), ['a', 'b', 'c', 'zz'], 'no predicate: all of them');
});

t.test('a promotion with a predicate picks by it, in the model order, spread through the list', async (t) => {
  const scorer = stubScorer(MODEL);
  const picks: Promotion = { name: 'late', share: 0.4, allows: (id) => id === 'f' || id === 'g' || id === 'h' };
  const list = await recommendForState(scorer, catalog, viewer, 5, { promotion: picks });
  t.strictSame(promotedIds(list), ['f*late', 'a', 'b', 'g*late', 'c']);
  t.strictSame(list.items.map((i) => i.score), [0.5, 1, 0.9, 0.4, 0.8], 'shares of the best score, 10');
});

t.test('the predicate is used instead of the categories when both are given', async (t) => {
  const scorer = stubScorer(MODEL);
  const both: Promotion = { name: 'w', share: 0.2, categories: ['shoes'], allows: (id) => CATEGORY[id] === 'watches' };
  t.strictSame(promotedIds(await recommendForState(scorer, catalog, viewer, 5, { promotion: both })), ['g*w', 'a', 'b', 'c', 'd']);
  t.strictSame(promoted(both), ['g', 'h']);
});

t.test('categories still promote without a predicate', async (t) => {
  const scorer = stubScorer(MODEL);
  const books: Promotion = { name: 'books', share: 0.4, categories: ['books'] };
  t.strictSame(promotedIds(await recommendForState(scorer, catalog, viewer, 5, { promotion: books })), ['e*books', 'a', 'b', 'f*books', 'c']);
  t.strictSame(promoted(books), ['e', 'f']);
});

t.test('the list predicate binds promoted items too', async (t) => {
  const scorer = stubScorer(MODEL);
  const picks: Promotion = { name: 'late', share: 0.4, allows: (id) => id === 'f' || id === 'g' || id === 'h' };
  const list = await recommendForState(scorer, catalog, viewer, 5, { promotion: picks, allow: (id) => id !== 'f' && id !== 'a' });
  t.strictSame(promotedIds(list), ['g*late', 'b', 'c', 'h*late', 'd']);
  const related = await relatedItems(scorer, catalog, 'g', null, 5, { promotion: picks });
  t.strictSame(promotedIds(related), ['f*late', 'a', 'b', 'h*late', 'c'], 'related lists take promotions by predicate as well');
});

t.test('a promotion must name categories or a predicate', async (t) => {
  // @ts-expect-error: neither categories nor allows
  const neither: Promotion = { name: 'none', share: 0.5 };
  t.equal(neither.name, 'none');
});

/** The items a promotion admits, of the whole catalog, under the default filter. */
function promoted(promotion: Promotion): string[] {
  const filter = promotionFilter(catalog, buildFilter(catalog, null), promotion);
  return MODEL.map(([id]) => id).filter((id) => filter.allows(id));
}
