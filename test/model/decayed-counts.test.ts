import t from 'tap';
import { DecayedCounts } from '../../src/model/decayed-counts.js';

t.test('counts halve every half-life and rank by decayed count', async (t) => {
  const counts = new DecayedCounts(1000);
  counts.add('a', 0);
  counts.add('a', 0);
  counts.add('b', 2000, 3);
  const top = counts.top(5, 2000);
  t.equal(top.length, 2);
  t.equal(top[0].itemId, 'b');
  t.ok(Math.abs(top[0].score - 3) < 1e-9);
  t.equal(top[1].itemId, 'a');
  t.ok(Math.abs(top[1].score - 0.5) < 1e-9, '2 events two half-lives ago count 0.5');
  const later = counts.top(5, 3000);
  t.ok(Math.abs(later[0].score - 1.5) < 1e-9);
  t.ok(Math.abs(later[1].score - 0.25) < 1e-9);
});

t.test('recent events outrank older, more numerous ones', async (t) => {
  const counts = new DecayedCounts(60_000);
  for (let i = 0; i < 10; i++) counts.add('old-hit', 0);
  for (let i = 0; i < 3; i++) counts.add('rising', 600_000);
  t.strictSame(counts.top(2, 600_000).map((x) => x.itemId), ['rising', 'old-hit']);
  t.strictSame(counts.top(1, 600_000, (id) => id !== 'rising').map((x) => x.itemId), ['old-hit'], 'filters apply');
});

t.test('far-future times stay finite', async (t) => {
  const counts = new DecayedCounts(1000);
  counts.add('x', 1e12);
  counts.add('x', 1e12);
  const [top] = counts.top(1, 1e12);
  t.ok(Math.abs(top.score - 2) < 1e-9);
  t.equal(counts.size, 1);
});
