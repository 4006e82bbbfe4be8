/** Latency summaries, in ms, rounded to µs so the JSON stays readable. */
export interface LatencySummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  mean: number | null;
}

export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function roundOrNull(value: number | null, digits = 3): number | null {
  return value === null || !Number.isFinite(value) ? null : round(value, digits);
}

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function sortedCopy(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

export function summarize(sorted: Float64Array): LatencySummary {
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: roundOrNull(percentile(sorted, 0.5)),
    p90: roundOrNull(percentile(sorted, 0.9)),
    p99: roundOrNull(percentile(sorted, 0.99)),
    p999: roundOrNull(percentile(sorted, 0.999)),
    max: roundOrNull(sorted.length > 0 ? sorted[sorted.length - 1] : null),
    mean: roundOrNull(sorted.length > 0 ? sum / sorted.length : null),
  };
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : round(a / b, 2);
}
