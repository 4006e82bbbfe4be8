/**
 * Time-decayed counts per item, for popular and trending lists updated on every event.
 *
 * Forward decay: each event adds 2^((t - origin)/halfLife) to its item in log2 space, so the
 * ranking of items never needs re-decaying as time passes; the decayed count at `now` is
 * 2^(logValue - (now - origin)/halfLife).
 */
export class DecayedCounts {
  private readonly log2Values = new Map<string, number>();
  private ranked: Array<[string, number]> | null = null;

  constructor(
    readonly halfLifeMs: number,
    private readonly origin = 0,
  ) {}

  add(itemId: string, at: number, weight = 1): void {
    if (!(weight > 0)) return;
    const added = Math.log2(weight) + (at - this.origin) / this.halfLifeMs;
    const current = this.log2Values.get(itemId);
    this.log2Values.set(itemId, current === undefined ? added : log2SumExp2(current, added));
    this.ranked = null;
  }

  /**
   * The `n` items with the highest decayed counts, each scored by its share of the top item's
   * count (the top item of all, kept or not, scores 1): the lists' one scale for `score`, 0..1.
   * Every count decays alike, so the shares are the same at any time and none is asked for.
   */
  top(n: number, keep: (itemId: string) => boolean = () => true): Array<{ itemId: string; score: number }> {
    this.ranked ??= [...this.log2Values].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const topLog2 = this.ranked[0]?.[1] ?? 0;
    const result: Array<{ itemId: string; score: number }> = [];
    for (const [itemId, log2Value] of this.ranked) {
      if (result.length === n) break;
      if (keep(itemId)) result.push({ itemId, score: Math.pow(2, log2Value - topLog2) });
    }
    return result;
  }

  get size(): number {
    return this.log2Values.size;
  }
}

function log2SumExp2(a: number, b: number): number {
  const high = Math.max(a, b);
  return high + Math.log2(1 + Math.pow(2, Math.min(a, b) - high));
}
