import { SESSION_METRICS, hitAt, ndcgAt, reciprocalRankAt, type MetricSpec } from './eval-metrics.js';
import type { Protocol } from './eval-cases.js';

// What tuning maximises, and when a change counts as better.

/** What tuning maximises, averaged over cases: HR@10 + NDCG@10 (leave-one-out) or HR@20 + MRR@20 (sessions). */
export function caseObjective(protocol: Protocol, rank: number | null): number {
  return protocol === 'sessions' ? hitAt(rank, 20) + reciprocalRankAt(rank, 20) : hitAt(rank, 10) + ndcgAt(rank, 10);
}

export function objectiveOf(protocol: Protocol, metrics: Record<string, number>): number {
  return protocol === 'sessions' ? metrics['HR@20'] + metrics['MRR@20'] : metrics['HR@10'] + metrics['NDCG@10'];
}

/**
 * Whether `candidate` beats `incumbent` (per-case objectives of the same cases) by more than
 * `z` standard errors of the paired difference: small data sets do not chase noise.
 */
export function significantlyBetter(candidate: Float64Array, incumbent: Float64Array, z: number): boolean {
  const n = candidate.length;
  if (n === 0) return false;
  let sum = 0;
  let sumSq = 0;
  for (let c = 0; c < n; c++) {
    const d = candidate[c] - incumbent[c];
    sum += d;
    sumSq += d * d;
  }
  const mean = sum / n;
  if (!(mean > 0)) return false;
  if (n === 1) return z <= 0;
  const variance = Math.max(0, (sumSq - n * mean * mean) / (n - 1));
  return mean > z * Math.sqrt(variance / n);
}

export function tuningSpec(protocol: Protocol): MetricSpec {
  return protocol === 'sessions' ? SESSION_METRICS : { hr: [10, 20], ndcg: [10, 20], mrr: [], coverage: [] };
}
