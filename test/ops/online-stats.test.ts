import t, { type Test } from 'tap';
import { groupBy, meanInterval, onlineReport, summarize, wilson, Z95 } from '../../src/ops/online-stats.js';
import { zeroCounts, type OnlineCounts } from '../../src/store/online-metrics.js';

const close = (t: Test, actual: number | undefined, expected: number, what: string) => t.ok(actual !== undefined && Math.abs(actual - expected) < 1e-12, `${what}: ${actual} ~ ${expected}`);
const counts = (partial: Partial<OnlineCounts>): OnlineCounts => ({ ...zeroCounts(), ...partial });

t.test('Wilson 95% intervals on known inputs', async (t) => {
  // 10 of 100: the textbook 0.0552 to 0.1744.
  const tenOfHundred = wilson(10, 100);
  t.equal(tenOfHundred?.value, 0.1);
  close(t, tenOfHundred?.low, 0.0552291370606751, 'low');
  close(t, tenOfHundred?.high, 0.17436566150491345, 'high');
  // None of 20: the interval still reaches 0.161 (the rule of three's cousin), never below 0.
  t.strictSame(wilson(0, 20)?.low, 0);
  close(t, wilson(0, 20)?.high, 0.16112515805281938, 'high of 0/20');
  close(t, wilson(20, 20)?.low, 0.8388748419471806, 'low of 20/20');
  t.equal(wilson(20, 20)?.high, 1);
  close(t, wilson(1, 2)?.low, 0.09453120573423074, 'low of 1/2');
  close(t, wilson(1, 2)?.high, 0.9054687942657693, 'high of 1/2');
  t.equal(wilson(0, 0), null, 'no trials, no rate');
  t.strictSame(wilson(25, 20), wilson(20, 20), 'more successes than trials count as all of them');
  t.equal(Z95, 1.959963984540054);
});

t.test('normal interval of a mean from its sum and sum of squares', async (t) => {
  // Values 0, 0, 10, 30: mean 10, sample variance 200.
  const revenue = meanInterval(40, 1000, 4);
  t.equal(revenue?.value, 10);
  close(t, revenue?.low, -3.8590382434967783, 'low');
  close(t, revenue?.high, 23.859038243496776, 'high');
  t.strictSame(meanInterval(7, 49, 1), { value: 7, low: 7, high: 7 }, 'one value: no spread known');
  t.strictSame(meanInterval(9, 27, 3), { value: 3, low: 3, high: 3 }, 'equal values: no spread');
  t.equal(meanInterval(0, 0, 0), null);
});

t.test('a summary: rates per item shown, revenue per list', async (t) => {
  const summary = summarize(counts({ lists: 4, impressions: 100, clicks: 10, addToCarts: 2, purchases: 1, revenue: 40, revenueSquares: 1000 }));
  t.match(summary, { lists: 4, impressions: 100, clicks: 10, addToCarts: 2, purchases: 1, revenue: 40, ctr: { value: 0.1 }, addToCartRate: { value: 0.02 }, conversion: { value: 0.01 }, revenuePerList: { value: 10 } });
  t.notOk('revenueSquares' in summary, 'the sum of squares is bookkeeping, not an answer');
  t.strictSame(summarize(zeroCounts()), { lists: 0, impressions: 0, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0, ctr: null, addToCartRate: null, conversion: null, revenuePerList: null });
});

t.test('the report groups rows by each dimension', async (t) => {
  const rows = [
    { dims: { modelVersion: 'v1', recipe: 'push', arm: 'live' }, counts: counts({ lists: 1, impressions: 10, clicks: 1 }) },
    { dims: { modelVersion: 'v1', recipe: 'related', arm: 'live' }, counts: counts({ lists: 2, impressions: 20, clicks: 2 }) },
    { dims: { modelVersion: 'v2', recipe: 'push', arm: 'candidate' }, counts: counts({ lists: 3, impressions: 30, clicks: 3 }) },
  ];
  t.strictSame(groupBy(rows, 'recipe').map(({ value, counts }) => [value, counts.lists]), [['push', 4], ['related', 2]]);
  const report = onlineReport(rows);
  t.strictSame(report.byModelVersion.map((g) => [g.modelVersion, g.lists, g.impressions]), [['v1', 3, 30], ['v2', 3, 30]]);
  t.strictSame(report.byArm.map((g) => [g.arm, g.clicks]), [['candidate', 3], ['live', 3]]);
  t.strictSame(report.byRecipe.map((g) => [g.recipe, g.ctr?.value]), [['push', 0.1], ['related', 0.1]]);
  t.match(report.total, { lists: 6, impressions: 60, clicks: 6, ctr: { value: 0.1 } });
  t.strictSame(report.rows.map((r) => [r.modelVersion, r.recipe, r.arm, r.lists]), [['v1', 'push', 'live', 1], ['v1', 'related', 'live', 2], ['v2', 'push', 'candidate', 3]]);
});
