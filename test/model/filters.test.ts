import t from 'tap';
import { initialState, reduce } from '../../src/session/state.js';
import { demoCatalog } from '../../src/demo/catalog.js';
import { CatalogIndex } from '../../src/model/catalog.js';
import { buildFilter, defaultFilter, filterTopN, interleavePromoted } from '../../src/model/filters.js';
import { rankItems, recommendForState, relatedItems } from '../../src/model/recommend.js';
import { Scorer } from '../../src/model/scorer.js';
import { demoModelDir, interaction } from '../helpers.js';

const catalog = new CatalogIndex([
  { itemId: 'a', title: 'A', category: 'shoes', price: 1, inStock: true },
  { itemId: 'b', title: 'B', category: 'shoes', price: 1, inStock: false },
  { itemId: 'c', title: 'C', category: 'bags', price: 1, inStock: true },
  { itemId: 'd', title: 'D', category: 'books', price: 1, inStock: true },
]);
const state = [interaction('1-0', 'view', 'c', 0), interaction('2-0', 'purchase', 'd', 0)].reduce((s, e) => reduce(s, e), initialState());

t.test('each filter option excludes what it says', async (t) => {
  const allowed = (options = defaultFilter) => ['a', 'b', 'c', 'd', 'zz'].filter((id) => buildFilter(catalog, state, options).allows(id));
  t.strictSame(allowed(), ['a', 'c', 'zz'], 'default: out of stock and purchased go; unknown items stay');
  t.strictSame(allowed({ ...defaultFilter, excludeSeen: true }), ['a', 'zz']);
  t.strictSame(allowed({ ...defaultFilter, excludeOutOfStock: false, excludePurchased: false }), ['a', 'b', 'c', 'd', 'zz']);
  t.strictSame(allowed({ ...defaultFilter, includeCategories: ['shoes', 'bags'] }), ['a', 'c'], 'unknown items have no category to include');
  t.strictSame(allowed({ ...defaultFilter, excludeCategories: ['bags'] }), ['a', 'zz']);
  t.strictSame(allowed({ ...defaultFilter, excludeItems: ['a'] }), ['c', 'zz']);
  t.equal(buildFilter(catalog, state).maxExcluded, 2, 'one purchased + one out of stock');
  t.equal(buildFilter(catalog, state, { ...defaultFilter, includeCategories: ['shoes'] }).maxExcluded, null);
});

t.test('filterTopN keeps model order', async (t) => {
  const scored = ['b', 'd', 'c', 'a'].map((itemId, i) => ({ itemId, score: 10 - i }));
  t.strictSame(filterTopN(scored, 5, buildFilter(catalog, state)), [{ itemId: 'c', score: 8 }, { itemId: 'a', score: 7 }]);
});

t.test('promoted items are spread evenly through the list', async (t) => {
  t.strictSame(interleavePromoted(['r1', 'r2', 'r3', 'r4', 'r5', 'r6'], ['p1', 'p2'], 8), ['p1', 'r1', 'r2', 'r3', 'p2', 'r4', 'r5', 'r6']);
  t.strictSame(interleavePromoted(['r1', 'r2'], [], 2), ['r1', 'r2']);
  t.strictSame(interleavePromoted(['r1'], ['p1', 'p2'], 3), ['p1', 'r1', 'p2'], 'promoted fill in when regulars run out');
});

t.test('recipes over the demo model apply filters and promotions', async (t) => {
  const scorer = await Scorer.load(await demoModelDir());
  t.teardown(() => scorer.close());
  const demo = new CatalogIndex(demoCatalog());
  const viewer = [interaction('1-0', 'view', 'shoes-010', 0, 'shoes'), interaction('2-0', 'purchase', 'shoes-011', 0, 'shoes')].reduce((s, e) => reduce(s, e), initialState());
  const categoryOf = (id: string) => demo.get(id)?.category;

  const onlyBooks = await recommendForState(scorer, demo, viewer, 10, { filter: { ...defaultFilter, includeCategories: ['books'] } });
  t.equal(onlyBooks.items.length, 10);
  t.ok(onlyBooks.items.every((i) => categoryOf(i.itemId) === 'books'), 'a category filter reaches past the first candidates');

  const promoted = await recommendForState(scorer, demo, viewer, 10, { promotion: { name: 'bags-week', share: 0.2, categories: ['bags'] } });
  t.strictSame(promoted.items.map((i, slot) => (i.promotionName === undefined ? null : slot)).filter((s) => s !== null), [0, 5], '2 of 10 slots, spread');
  t.ok(promoted.items.filter((i) => i.promotionName === 'bags-week').every((i) => categoryOf(i.itemId) === 'bags'));
  t.notOk(promoted.items.some((i) => i.itemId === 'shoes-011' || !demo.isInStock(i.itemId)), 'base filters still apply');
  t.equal(new Set(promoted.items.map((i) => i.itemId)).size, 10, 'no item twice');

  const related = await relatedItems(scorer, demo, 'watches-003', null, 5);
  t.equal(related.items.length, 5);
  t.notOk(related.items.some((i) => i.itemId === 'watches-003'), 'not the item itself');
  t.ok(related.items.filter((i) => categoryOf(i.itemId) === 'watches').length >= 4, 'its neighbours');

  const ranked = await rankItems(scorer, demo, viewer, ['books-001', 'new-item', 'shoes-012', 'shoes-011', 'shoes-009', 'books-001'], 10, { ...defaultFilter, excludeOutOfStock: false });
  t.strictSame(ranked.items.map((i) => i.itemId).slice(0, 2).sort(), ['shoes-009', 'shoes-012'], 'the shoes neighbours first');
  t.strictSame(ranked.items.map((i) => i.itemId).slice(2), ['books-001', 'new-item'], 'unknown items last; purchased dropped; duplicates once');
});
