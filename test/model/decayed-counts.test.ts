import t from 'tap';
import { DecayedCounts } from '../../src/model/decayed-counts.js';

t.test('counts halve every half-life and rank by decayed count; a score is the share of the top item\'s', async (t) => {
  const counts = new DecayedCounts(1000);
  counts.add('a', 0);
  counts.add('a', 0);
  counts.add('b', 2000, 4);
  // At 2000, b counts 4 and a's 2 events two half-lives ago count 0.5: an eighth of b's.
  t.strictSame(counts.top(5), [
    { itemId: 'b', score: 1 },
    { itemId: 'a', score: 0.125 },
  ]);
  counts.add('c', 3000, 2);
  // At 3000: b 2, c 2, a 0.25.
  t.strictSame(counts.top(5), [
    { itemId: 'b', score: 1 },
    { itemId: 'c', score: 1 },
    { itemId: 'a', score: 0.125 },
  ]);
  t.strictSame(counts.top(5, (id) => id === 'a'), [{ itemId: 'a', score: 0.125 }], 'shares of the top item of all, not of those kept');
});

t.test('recent events outrank older, more numerous ones', async (t) => {
  const counts = new DecayedCounts(60_000);
  for (let i = 0; i < 10; i++) counts.add('old-hit', 0);
  for (let i = 0; i < 3; i++) counts.add('rising', 600_000);
  t.strictSame(counts.top(2).map((x) => x.itemId), ['rising', 'old-hit']);
  t.strictSame(counts.top(1, (id) => id !== 'rising').map((x) => x.itemId), ['old-hit'], 'filters apply');
});

t.test('far-future times stay finite', async (t) => {
  const counts = new DecayedCounts(1000);
  counts.add('x', 1e12);
  counts.add('x', 1e12);
  counts.add('y', 1e12);
  t.strictSame(counts.top(2), [{ itemId: 'x', score: 1 }, { itemId: 'y', score: 0.5 }]);
  t.equal(counts.size, 2);
});
