/**
 * Ranking metrics for next-item prediction with one target per case (binary relevance). Ranks
 * are 1-based; `null` means the target is not in the list at all. Every function is pure.
 */

/** 1-based position of `target` in `list`, or null when it is absent. */
export function rankOf<T>(list: readonly T[], target: T): number | null {
  const at = list.indexOf(target);
  return at < 0 ? null : at + 1;
}

function checkK(k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`K must be a positive integer, got ${k}`);
}

/** HR@K of one case: 1 when the target ranks within the top K. */
export function hitAt(rank: number | null, k: number): number {
  checkK(k);
  return rank !== null && rank <= k ? 1 : 0;
}

/** NDCG@K of one case, one relevant item: 1 / log2(rank + 1) within the top K (the ideal DCG is 1). */
export function ndcgAt(rank: number | null, k: number): number {
  checkK(k);
  return rank !== null && rank <= k ? 1 / Math.log2(rank + 1) : 0;
}

/** MRR@K of one case: 1 / rank within the top K. */
export function reciprocalRankAt(rank: number | null, k: number): number {
  checkK(k);
  return rank !== null && rank <= k ? 1 / rank : 0;
}

function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('no cases to average');
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** HR@K averaged over cases: lists[c] is case c's ranking, targets[c] its target. */
export function hitRate<T>(lists: readonly (readonly T[])[], targets: readonly T[], k: number): number {
  checkCases(lists, targets);
  return mean(lists.map((list, c) => hitAt(rankOf(list, targets[c]), k)));
}

export function ndcg<T>(lists: readonly (readonly T[])[], targets: readonly T[], k: number): number {
  checkCases(lists, targets);
  return mean(lists.map((list, c) => ndcgAt(rankOf(list, targets[c]), k)));
}

export function mrr<T>(lists: readonly (readonly T[])[], targets: readonly T[], k: number): number {
  checkCases(lists, targets);
  return mean(lists.map((list, c) => reciprocalRankAt(rankOf(list, targets[c]), k)));
}

/** Coverage@K: distinct items in the cases' top-K lists, as a share of the catalog. */
export function coverage<T>(lists: Iterable<readonly T[]>, k: number, catalogSize: number): number {
  checkK(k);
  if (!Number.isInteger(catalogSize) || catalogSize < 1) throw new RangeError(`catalog size must be a positive integer, got ${catalogSize}`);
  const seen = new Set<T>();
  for (const list of lists) for (let i = 0; i < Math.min(k, list.length); i++) seen.add(list[i]);
  return seen.size / catalogSize;
}

function checkCases(lists: readonly unknown[], targets: readonly unknown[]): void {
  if (lists.length !== targets.length) throw new RangeError(`${lists.length} lists but ${targets.length} targets`);
}

export interface MetricSpec {
  hr: readonly number[];
  ndcg: readonly number[];
  mrr: readonly number[];
  coverage: readonly number[];
}

/** The leave-one-out report of issue 3: HR@5/10/20, NDCG@5/10/20, MRR@25, Coverage@10. */
export const LEAVE_ONE_OUT_METRICS: MetricSpec = { hr: [5, 10, 20], ndcg: [5, 10, 20], mrr: [25], coverage: [10] };
/** session-rec's next-click report: HR@20 and MRR@20. */
export const SESSION_METRICS: MetricSpec = { hr: [20], ndcg: [], mrr: [20], coverage: [] };

export function metricNames(spec: MetricSpec): string[] {
  return [
    ...spec.hr.map((k) => `HR@${k}`),
    ...spec.ndcg.map((k) => `NDCG@${k}`),
    ...spec.mrr.map((k) => `MRR@${k}`),
    ...spec.coverage.map((k) => `Coverage@${k}`),
  ];
}

/** Largest K any metric of the spec needs. */
export function deepestK(spec: MetricSpec): number {
  return Math.max(1, ...spec.hr, ...spec.ndcg, ...spec.mrr, ...spec.coverage);
}

/**
 * Streaming averages over cases. `add` takes the target's rank (null: absent) and, for coverage,
 * the case's list (only its top K is read).
 */
export class MetricAccumulator {
  private cases = 0;
  private readonly sums: number[];
  private readonly covered: Set<unknown>[];

  constructor(
    readonly spec: MetricSpec,
    private readonly catalogSize = 1,
  ) {
    this.sums = new Array(spec.hr.length + spec.ndcg.length + spec.mrr.length).fill(0);
    this.covered = spec.coverage.map(() => new Set());
  }

  add(rank: number | null, list?: readonly unknown[]): void {
    this.cases++;
    let at = 0;
    for (const k of this.spec.hr) this.sums[at++] += hitAt(rank, k);
    for (const k of this.spec.ndcg) this.sums[at++] += ndcgAt(rank, k);
    for (const k of this.spec.mrr) this.sums[at++] += reciprocalRankAt(rank, k);
    if (list !== undefined) {
      this.spec.coverage.forEach((k, c) => {
        for (let i = 0; i < Math.min(k, list.length); i++) this.covered[c].add(list[i]);
      });
    }
  }

  get count(): number {
    return this.cases;
  }

  /** Metric name -> value; averages are 0 when no case was added. */
  result(): Record<string, number> {
    const out: Record<string, number> = {};
    const names = metricNames(this.spec);
    let at = 0;
    for (; at < this.sums.length; at++) out[names[at]] = this.cases === 0 ? 0 : this.sums[at] / this.cases;
    this.spec.coverage.forEach((_, c) => {
      out[names[at + c]] = this.covered[c].size / this.catalogSize;
    });
    return out;
  }
}
