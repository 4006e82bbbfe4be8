import type { ReducerConfig } from '../session/state.js';
import { encodeHistory } from '../model/input-encoding.js';
import { scoreAll, type ScoringTables } from '../model/item-item.js';
import { toModelInput } from '../model/recommend.js';
import { MetricAccumulator, type MetricSpec } from './eval-metrics.js';
import { caseCount, replayPrefixes, type CaseGroup, type Protocol } from './eval-cases.js';
import { caseObjective } from './tuning-objective.js';

// The twin path used for tuning: the same model inputs scored by the graph's TypeScript twin
// (scoreAll), which is much faster than the serving path.

/** Cases encoded once per reducer setting: model input rows, targets, history items to exclude. */
export interface EncodedCases {
  historyLength: number;
  count: number;
  indices: Int32Array;
  weights: Float32Array;
  /** Vocabulary index of each target; -1 when it is not in the vocabulary (always a miss). */
  targets: Int32Array;
  /** CSR: the history items of case c are excluded[excludedStart[c] .. excludedStart[c + 1]). */
  excludedStart: Int32Array;
  excluded: Int32Array;
  /** Cases whose state has no items (served popular items; the twin scores them by the prior). */
  cold: Uint8Array;
}

export function encodeCases(
  groups: readonly CaseGroup[],
  config: ReducerConfig,
  historyLength: number,
  indexOf: ReadonlyMap<string, number>,
  itemCount: number,
  exclude: boolean,
): EncodedCases {
  const count = caseCount(groups);
  const L = historyLength;
  const indices = new Int32Array(count * L);
  const weights = new Float32Array(count * L);
  const targets = new Int32Array(count);
  const cold = new Uint8Array(count);
  const excludedStart = new Int32Array(count + 1);
  const excluded: number[] = [];
  let c = 0;
  for (const group of groups) {
    replayPrefixes(group, config, (index, state) => {
      const prefix = group.prefixes[index];
      const encoded = encodeHistory(toModelInput(state), indexOf, { historyLength: L, padIndex: itemCount });
      indices.set(encoded.indices, c * L);
      weights.set(encoded.weights, c * L);
      targets[c] = indexOf.get(group.events[prefix].itemId) ?? -1;
      cold[c] = state.itemSums.length === 0 ? 1 : 0;
      if (exclude) {
        const seen = new Set<number>();
        for (let p = 0; p < prefix; p++) {
          const i = indexOf.get(group.events[p].itemId);
          if (i !== undefined && !seen.has(i)) {
            seen.add(i);
            excluded.push(i);
          }
        }
      }
      excludedStart[++c] = excluded.length;
    });
  }
  return { historyLength: L, count, indices, weights, targets, excludedStart, excluded: Int32Array.from(excluded), cold };
}

/**
 * 1-based rank of case c's target among `scores` as TopK orders them (higher score first, ties
 * by lower index), excluded items removed; null when the target is excluded or unknown.
 */
export function rankInScores(scores: Float32Array, cases: EncodedCases, c: number): number | null {
  const t = cases.targets[c];
  if (t < 0) return null;
  const from = cases.excludedStart[c];
  const to = cases.excludedStart[c + 1];
  const st = scores[t];
  let rank = 1;
  for (let j = 0; j < t; j++) if (scores[j] >= st) rank++;
  for (let j = t + 1; j < scores.length; j++) if (scores[j] > st) rank++;
  for (let e = from; e < to; e++) {
    const j = cases.excluded[e];
    if (j === t) return null;
    if (scores[j] > st || (scores[j] === st && j < t)) rank--;
  }
  return rank;
}

/**
 * Metrics of the twin's rankings. With `perCase`, also writes each case's tuning objective
 * (see caseObjective) to perCase[offset + c].
 */
export function evaluateTwin(
  tables: ScoringTables,
  cases: EncodedCases,
  spec: MetricSpec,
  perCase?: { protocol: Protocol; out: Float64Array; offset: number },
): Record<string, number> {
  const metrics = new MetricAccumulator({ ...spec, coverage: [] });
  const scores = new Float32Array(tables.itemCount);
  const L = cases.historyLength;
  for (let c = 0; c < cases.count; c++) {
    scoreAll(tables, cases.indices.subarray(c * L, (c + 1) * L), cases.weights.subarray(c * L, (c + 1) * L), scores);
    const rank = rankInScores(scores, cases, c);
    metrics.add(rank);
    if (perCase) perCase.out[perCase.offset + c] = caseObjective(perCase.protocol, rank);
  }
  return metrics.result();
}
