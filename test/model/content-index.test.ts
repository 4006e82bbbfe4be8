import t from 'tap';
import { ContentIndex, contentSimilarity, titleTokens } from '../../src/model/content-index.js';

t.test('title tokens: lower case, words of any script, three characters or more, each once', async (t) => {
  t.strictSame(titleTokens('Trail Running Shoe, size XL — trail edition'), ['trail', 'running', 'shoe', 'size', 'edition']);
  t.strictSame(titleTokens('Café crème 250g'), ['café', 'crème', '250g']);
  t.strictSame(titleTokens(''), []);
});

t.test('similarity: half for the same category, half times the Jaccard overlap of title tokens', async (t) => {
  t.equal(contentSimilarity({ category: 'shoes', tokens: ['trail', 'runner'] }, { category: 'shoes', tokens: ['road', 'runner'] }), 0.5 + 0.5 * (1 / 3));
  t.equal(contentSimilarity({ category: 'shoes', tokens: [] }, { category: 'shoes', tokens: ['road'] }), 0.5);
  t.equal(contentSimilarity({ category: 'shoes', tokens: ['road'] }, { category: 'bags', tokens: ['road'] }), 0.5);
  t.equal(contentSimilarity({ category: '', tokens: ['x1'] }, { category: '', tokens: ['x2'] }), 0, 'an empty category is no category');
});

t.test('neighbours: by similarity, then id; updated items move; postings keep their latest items', async (t) => {
  const index = new ContentIndex({ postingLimit: 3 });
  index.upsert([
    { itemId: 'shoe-1', category: 'shoes', title: 'Trail Runner' },
    { itemId: 'shoe-2', category: 'shoes', title: 'Road Runner' },
    { itemId: 'shoe-3', category: 'shoes', title: 'Court Classic' },
    { itemId: 'bag-1', category: 'bags', title: 'Trail Pack' },
  ]);
  t.strictSame(index.neighbours('shoe-1', 10), [
    { itemId: 'shoe-2', score: 0.5 + 0.5 / 3 },
    { itemId: 'shoe-3', score: 0.5 },
    { itemId: 'bag-1', score: 0.5 / 3 },
  ]);
  t.strictSame(index.neighbours('shoe-1', 1), [{ itemId: 'shoe-2', score: 0.5 + 0.5 / 3 }]);
  t.strictSame(index.neighbours('unknown', 5), []);

  index.upsert([{ itemId: 'shoe-3', category: 'bags', title: 'Court Classic' }]);
  t.strictSame(index.neighbours('bag-1', 10), [{ itemId: 'shoe-3', score: 0.5 }, { itemId: 'shoe-1', score: 0.5 / 3 }], 'a moved item is found in its new category only');
  t.strictSame(index.neighbours('shoe-1', 10).map((n) => n.itemId), ['shoe-2', 'bag-1']);

  // The shoes posting holds 3: a fourth and fifth push out the oldest.
  index.upsert([
    { itemId: 'shoe-4', category: 'shoes', title: 'Alpha' },
    { itemId: 'shoe-5', category: 'shoes', title: 'Beta' },
  ]);
  t.strictSame(index.neighbours('shoe-5', 10).map((n) => n.itemId), ['shoe-2', 'shoe-4'], 'shoe-1 fell out of the bounded posting');
  t.equal(index.size, 6);
});
