/**
 * Online metrics as stored: counts of served lists and of the engagement attributed to them, per
 * list dimensions (model version, recipe, experiment arm) and per minute. Nodes only ever add to
 * a bucket, so the counts of every node of a deployment sum up in one place.
 */

/** What a list is counted under. */
export interface ListDimensions {
  modelVersion: string;
  /** What kind of list it was: `push`, `recommendations`, `related`, `ranking` (src/ops/attribution.ts). */
  recipe: string;
  /** The experiment arm the list was served in; `live` outside experiments. */
  arm: string;
}

/** Counts of one set of lists. Every field only grows. */
export interface OnlineCounts {
  lists: number;
  /** Items shown: the sum of the lists' lengths. */
  impressions: number;
  /** Items of a list clicked (or viewed) at least once after it was shown. */
  clicks: number;
  addToCarts: number;
  purchases: number;
  /** Sum of the attributed purchases' `eventValue`. */
  revenue: number;
  /** Sum over the lists of the square of each list's revenue: the spread of revenue per list. */
  revenueSquares: number;
}

export const COUNT_FIELDS = ['lists', 'impressions', 'clicks', 'addToCarts', 'purchases', 'revenue', 'revenueSquares'] as const satisfies ReadonlyArray<keyof OnlineCounts>;

/** Fields whose increments may be fractional (money); the others are whole numbers. */
export const FRACTIONAL_FIELDS: ReadonlySet<keyof OnlineCounts> = new Set(['revenue', 'revenueSquares']);

export function zeroCounts(): OnlineCounts {
  return { lists: 0, impressions: 0, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0, revenueSquares: 0 };
}

export function addCounts(into: OnlineCounts, more: Readonly<OnlineCounts>): OnlineCounts {
  for (const field of COUNT_FIELDS) into[field] += more[field];
  return into;
}

export interface OnlineCountsRow {
  dims: ListDimensions;
  counts: OnlineCounts;
}

/** Increments to one minute's bucket. */
export interface MinuteIncrements {
  /** Epoch ms of the minute's start (a multiple of 60,000). */
  minute: number;
  rows: readonly OnlineCountsRow[];
}

export interface OnlineMetricsStore {
  /** Adds each row's counts to its minute bucket (increments: nodes adding to one bucket sum up). */
  add(increments: readonly MinuteIncrements[]): Promise<void>;
  /**
   * The sum, per dimensions, of every bucket from the minute `sinceMs` falls in on; rows with
   * every count zero are left out. Order: by model version, recipe, arm.
   */
  read(sinceMs: number): Promise<OnlineCountsRow[]>;
}

export const MINUTE_MS = 60_000;

/** How long buckets are kept: older ones may be dropped. */
export const ONLINE_METRICS_RETENTION_MS = 35 * 24 * 3600_000;

export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

/** One string per dimensions, reversible whatever a version holds. */
export function dimensionsKey(dims: ListDimensions): string {
  return JSON.stringify([dims.modelVersion, dims.recipe, dims.arm]);
}

export function dimensionsOfKey(key: string): ListDimensions {
  const parsed: unknown = JSON.parse(key);
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((part) => typeof part === 'string')) throw new Error(`not a dimensions key: ${key}`);
  const [modelVersion, recipe, arm] = parsed as [string, string, string];
  return { modelVersion, recipe, arm };
}

/** Rows summed per dimensions, in the order `read` promises, zero rows left out. */
export function sumRows(rows: Iterable<OnlineCountsRow>): OnlineCountsRow[] {
  const sums = new Map<string, OnlineCountsRow>();
  for (const row of rows) {
    const key = dimensionsKey(row.dims);
    const sum = sums.get(key);
    if (sum === undefined) sums.set(key, { dims: { ...row.dims }, counts: addCounts(zeroCounts(), row.counts) });
    else addCounts(sum.counts, row.counts);
  }
  return [...sums.values()].filter((row) => COUNT_FIELDS.some((field) => row.counts[field] !== 0)).sort((a, b) => compareDimensions(a.dims, b.dims));
}

function compareDimensions(a: ListDimensions, b: ListDimensions): number {
  for (const field of ['modelVersion', 'recipe', 'arm'] as const) {
    if (a[field] !== b[field]) return a[field] < b[field] ? -1 : 1;
  }
  return 0;
}

/** One process's buckets: the embedded mode, and nodes of one process sharing memory stores. */
export class MemoryOnlineMetricsStore implements OnlineMetricsStore {
  private readonly buckets = new Map<number, OnlineCountsRow[]>();

  constructor(private readonly now: () => number = Date.now) {}

  async add(increments: readonly MinuteIncrements[]): Promise<void> {
    for (const { minute, rows } of increments) {
      const bucket = this.buckets.get(minute) ?? [];
      bucket.push(...rows.map((row) => ({ dims: { ...row.dims }, counts: { ...row.counts } })));
      // Summed on every add, so a bucket holds one row per dimensions.
      this.buckets.set(minute, sumRows(bucket));
    }
    const oldest = minuteOf(this.now() - ONLINE_METRICS_RETENTION_MS);
    for (const minute of this.buckets.keys()) if (minute < oldest) this.buckets.delete(minute);
  }

  async read(sinceMs: number): Promise<OnlineCountsRow[]> {
    const from = minuteOf(sinceMs);
    return sumRows([...this.buckets.entries()].filter(([minute]) => minute >= from).flatMap(([, rows]) => rows));
  }
}
