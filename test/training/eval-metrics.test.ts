import t from 'tap';
import {
  MetricAccumulator,
  LEAVE_ONE_OUT_METRICS,
  coverage,
  deepestK,
  hitAt,
  hitRate,
  metricNames,
  mrr,
  ndcg,
  ndcgAt,
  rankOf,
  reciprocalRankAt,
} from '../../src/training/eval-metrics.js';

/*
 * Four cases, hand-computed:
 *   case 0: list [a b c d], target a -> rank 1
 *   case 1: list [a b c d], target c -> rank 3
 *   case 2: list [e f g h], target h -> rank 4
 *   case 3: list [a e f g], target z -> absent
 * HR@1 = 1/4; HR@3 = 2/4; HR@4 = 3/4
 * NDCG@3 = (1 + 1/log2(4)) / 4 = 1.5 / 4 = 0.375
 * NDCG@4 = (1 + 0.5 + 1/log2(5)) / 4
 * MRR@3 = (1 + 1/3) / 4 = 1/3; MRR@4 = (1 + 1/3 + 1/4) / 4 = 19/48
 */
const lists = [['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd'], ['e', 'f', 'g', 'h'], ['a', 'e', 'f', 'g']];
const targets = ['a', 'c', 'h', 'z'];

t.test('rank and per-case metrics', async (t) => {
  t.equal(rankOf(['x', 'y'], 'y'), 2);
  t.equal(rankOf(['x', 'y'], 'q'), null);
  t.equal(hitAt(3, 3), 1);
  t.equal(hitAt(4, 3), 0);
  t.equal(hitAt(null, 10), 0);
  t.equal(ndcgAt(1, 10), 1);
  t.equal(ndcgAt(3, 10), 0.5, '1 / log2(4)');
  t.equal(ndcgAt(7, 10), 1 / 3, '1 / log2(8)');
  t.equal(ndcgAt(11, 10), 0);
  t.equal(reciprocalRankAt(4, 5), 0.25);
  t.equal(reciprocalRankAt(6, 5), 0);
  t.throws(() => hitAt(1, 0), RangeError);
  t.throws(() => ndcgAt(1, 2.5), RangeError);
});

t.test('averaged metrics on the hand-computed cases', async (t) => {
  t.equal(hitRate(lists, targets, 1), 0.25);
  t.equal(hitRate(lists, targets, 3), 0.5);
  t.equal(hitRate(lists, targets, 4), 0.75);
  t.equal(ndcg(lists, targets, 3), 0.375);
  t.equal(ndcg(lists, targets, 4), (1 + 0.5 + 1 / Math.log2(5)) / 4);
  t.equal(mrr(lists, targets, 3), 1 / 3);
  t.equal(mrr(lists, targets, 4), 19 / 48);
  t.throws(() => hitRate(lists, targets.slice(1), 3), /4 lists but 3 targets/);
  t.throws(() => ndcg([], [], 3), /no cases/);
});

t.test('coverage: distinct items of the top-K lists over the catalog', async (t) => {
  // Top-2: {a, b} {a, b} {e, f} {a, e} -> a b e f = 4 of 10.
  t.equal(coverage(lists, 2, 10), 0.4);
  // Top-4: a b c d e f g h = 8 of 10.
  t.equal(coverage(lists, 4, 10), 0.8);
  t.equal(coverage([['a']], 5, 4), 0.25, 'short lists count what they have');
  t.throws(() => coverage(lists, 2, 0), /catalog size/);
});

t.test('MetricAccumulator agrees with the functions', async (t) => {
  const spec = { hr: [1, 3, 4], ndcg: [3, 4], mrr: [3, 4], coverage: [2, 4] };
  const acc = new MetricAccumulator(spec, 10);
  lists.forEach((list, c) => acc.add(rankOf(list, targets[c]), list));
  t.equal(acc.count, 4);
  t.strictSame(acc.result(), {
    'HR@1': 0.25,
    'HR@3': 0.5,
    'HR@4': 0.75,
    'NDCG@3': 0.375,
    'NDCG@4': (1 + 0.5 + 1 / Math.log2(5)) / 4,
    'MRR@3': 1 / 3,
    'MRR@4': 19 / 48,
    'Coverage@2': 0.4,
    'Coverage@4': 0.8,
  });
  t.strictSame(metricNames(LEAVE_ONE_OUT_METRICS), ['HR@5', 'HR@10', 'HR@20', 'NDCG@5', 'NDCG@10', 'NDCG@20', 'MRR@25', 'Coverage@10']);
  t.equal(deepestK(LEAVE_ONE_OUT_METRICS), 25);
  t.strictSame(new MetricAccumulator({ hr: [5], ndcg: [], mrr: [], coverage: [] }).result(), { 'HR@5': 0 }, 'no cases: zeros');
});
