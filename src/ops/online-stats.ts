import { addCounts, zeroCounts, type ListDimensions, type OnlineCounts, type OnlineCountsRow } from '../store/online-metrics.js';

/** The two-sided 95% normal quantile. */
export const Z95 = 1.959963984540054;

/** An estimate with its 95% confidence interval. */
export interface Estimate {
  value: number;
  low: number;
  high: number;
}

/**
 * The Wilson score interval of a rate: `successes` of `trials`. Null with no trials. Successes
 * above the trials (a list shown before `since` and clicked after it) count as all the trials.
 */
export function wilson(successes: number, trials: number, z = Z95): Estimate | null {
  if (trials <= 0) return null;
  const x = Math.min(successes, trials);
  const p = x / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const center = (p + z2 / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / denominator;
  return { value: p, low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

/**
 * The mean of `n` values from their sum and sum of squares, with the normal interval
 * mean ± z·s/√n (s: the sample standard deviation). Null with no values; with one, the interval
 * is the value itself (nothing is known of the spread).
 */
export function meanInterval(sum: number, sumSquares: number, n: number, z = Z95): Estimate | null {
  if (n <= 0) return null;
  const mean = sum / n;
  if (n === 1) return { value: mean, low: mean, high: mean };
  // Rounding can leave a tiny negative where every value is the same.
  const variance = Math.max(0, (sumSquares - (sum * sum) / n) / (n - 1));
  const half = z * Math.sqrt(variance / n);
  return { value: mean, low: mean - half, high: mean + half };
}

/** Counts with the rates an operator compares lists by. */
export interface OnlineSummary extends Omit<OnlineCounts, 'revenueSquares'> {
  /** Clicks per item shown. */
  ctr: Estimate | null;
  /** Add-to-carts per item shown. */
  addToCartRate: Estimate | null;
  /** Purchases per item shown. */
  conversion: Estimate | null;
  /** Attributed revenue per list served. */
  revenuePerList: Estimate | null;
}

export function summarize(counts: OnlineCounts): OnlineSummary {
  const { lists, impressions, clicks, addToCarts, purchases, revenue, revenueSquares } = counts;
  return {
    lists,
    impressions,
    clicks,
    addToCarts,
    purchases,
    revenue,
    ctr: wilson(clicks, impressions),
    addToCartRate: wilson(addToCarts, impressions),
    conversion: wilson(purchases, impressions),
    revenuePerList: meanInterval(revenue, revenueSquares, lists),
  };
}

export type Dimension = keyof ListDimensions;

/** Rows summed per value of one dimension, ordered by that value. */
export function groupBy(rows: readonly OnlineCountsRow[], dimension: Dimension): Array<{ value: string; counts: OnlineCounts }> {
  const groups = new Map<string, OnlineCounts>();
  for (const row of rows) {
    const value = row.dims[dimension];
    groups.set(value, addCounts(groups.get(value) ?? zeroCounts(), row.counts));
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([value, counts]) => ({ value, counts }));
}

export function total(rows: readonly OnlineCountsRow[]): OnlineCounts {
  return rows.reduce((sum, row) => addCounts(sum, row.counts), zeroCounts());
}

/** The answer of GET /v1/admin/online-metrics: totals, per model version, recipe and arm, and per all three. */
export function onlineReport(rows: readonly OnlineCountsRow[]) {
  const per = (dimension: Dimension) => groupBy(rows, dimension).map(({ value, counts }) => ({ value, summary: summarize(counts) }));
  return {
    total: summarize(total(rows)),
    byModelVersion: per('modelVersion').map(({ value, summary }) => ({ modelVersion: value, ...summary })),
    byRecipe: per('recipe').map(({ value, summary }) => ({ recipe: value, ...summary })),
    byArm: per('arm').map(({ value, summary }) => ({ arm: value, ...summary })),
    rows: rows.map(({ dims, counts }) => ({ ...dims, ...summarize(counts) })),
  };
}
