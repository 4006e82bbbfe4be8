import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Interaction } from './types.js';
import {
  DEFAULT_ITEM_ITEM_PARAMS,
  compareIds,
  type ItemItemModel,
  type ItemItemParams,
} from './item-item.js';

export { scoreReference } from './item-item.js';

export type TrainingProgress = (done: number, total: number) => void;

/** Progress is reported every this many units of work (users, then items), and at the end. */
const PROGRESS_STEP = 1024;

function resolveParams(overrides: Partial<ItemItemParams>): ItemItemParams {
  const params: ItemItemParams = {
    ...DEFAULT_ITEM_ITEM_PARAMS,
    ...overrides,
    // Overriding one event type must not drop the defaults of the others.
    eventWeights: { ...DEFAULT_ITEM_ITEM_PARAMS.eventWeights, ...overrides.eventWeights },
  };
  const positiveInt = (name: 'window' | 'neighbours'): void => {
    if (!Number.isInteger(params[name]) || params[name] < 1) {
      throw new Error(`trainItemItem: ${name} must be a positive integer, got ${params[name]}`);
    }
  };
  positiveInt('window');
  positiveInt('neighbours');
  const nonNegative = (name: string, value: number): void => {
    if (!Number.isFinite(value) || value < 0) throw new Error(`trainItemItem: ${name} must be finite and >= 0, got ${value}`);
  };
  for (const name of ['decay', 'backwardWeight', 'alpha', 'beta', 'popularityBlend', 'defaultEventWeight'] as const) {
    nonNegative(name, params[name]);
  }
  for (const [type, weight] of Object.entries(params.eventWeights)) nonNegative(`eventWeights.${type}`, weight);
  return params;
}

/**
 * Each user's interaction positions in time order; users by id. Equal timestamps fall back to
 * item, event type and value, so the same data set gives the same sequences (and model) however
 * it was ordered on input.
 */
function canonicalSequences(interactions: readonly Interaction[]): number[][] {
  const byUser = new Map<string, number[]>();
  interactions.forEach((x, position) => {
    const sequence = byUser.get(x.userId);
    if (sequence) sequence.push(position);
    else byUser.set(x.userId, [position]);
  });
  const inTimeOrder = (a: number, b: number): number => {
    const x = interactions[a];
    const y = interactions[b];
    return (
      x.timestamp - y.timestamp ||
      compareIds(x.itemId, y.itemId) ||
      compareIds(x.eventType, y.eventType) ||
      (x.eventValue ?? -Infinity) - (y.eventValue ?? -Infinity) ||
      a - b
    );
  };
  return [...byUser.keys()].sort(compareIds).map((user) => (byUser.get(user) ?? []).sort(inTimeOrder));
}

function hashSequences(interactions: readonly Interaction[], sequences: readonly number[][]): string {
  const hash = createHash('sha256');
  // Length-prefixed fields cannot be confused whatever the ids contain; one update per chunk
  // because a call per interaction costs more than the hashing.
  let chunk = '';
  for (const sequence of sequences) {
    for (const position of sequence) {
      const { userId, itemId, timestamp, eventType, eventValue } = interactions[position];
      chunk += `${userId.length}:${userId}${itemId.length}:${itemId}${timestamp};${eventType.length}:${eventType}${eventValue ?? ''};`;
    }
    if (chunk.length > 65536) {
      hash.update(chunk);
      chunk = '';
    }
  }
  return hash.update(chunk).digest('hex');
}

/** sha256 (hex) of the interactions in canonical order: names the data set, not its input order. */
export function hashInteractions(interactions: readonly Interaction[]): string {
  return hashSequences(interactions, canonicalSequences(interactions));
}

/**
 * Sequence-aware item-item co-occurrence. For positions p < q <= p + window of one user's
 * sequence (items i then j, i != j), with g = eventWeight(j) * decay^(q-p-1):
 *   w[i][j] += g                   (j followed i)
 *   w[j][i] += backwardWeight * g  (i preceded j)
 * then w[i][j] /= count_i^alpha * count_j^beta, the top `neighbours` per item are kept (ties by
 * lower index), and the prior is log1p(count) / max log1p(count) * popularityBlend.
 */
export function trainItemItem(
  interactions: readonly Interaction[],
  overrides: Partial<ItemItemParams> = {},
  onProgress?: TrainingProgress,
): ItemItemModel {
  const started = performance.now();
  const params = resolveParams(overrides);
  if (interactions.length === 0) throw new Error('trainItemItem: no interactions to train on');

  const items = [...new Set(interactions.map((x) => x.itemId))].sort(compareIds);
  const n = items.length;
  const indexOf = new Map(items.map((id, i) => [id, i] as const));
  const itemOf = Int32Array.from(interactions, (x) => indexOf.get(x.itemId) ?? -1);
  const eventWeightOf = Float64Array.from(
    interactions,
    (x) => params.eventWeights[x.eventType] ?? params.defaultEventWeight,
  );
  const counts = new Int32Array(n);
  for (const i of itemOf) counts[i]++;

  const sequences = canonicalSequences(interactions);
  const total = sequences.length + n;
  let done = 0;
  const progress = (): void => {
    done++;
    if (onProgress && (done % PROGRESS_STEP === 0 || done === total)) onProgress(done, total);
  };

  const decayPowers = Float64Array.from({ length: params.window }, (_, gap) => params.decay ** gap);
  // Directed pair (i, j) keyed i * n + j: exact integers far below 2^53 (and Smis for n < 32k).
  const pairWeights = new Map<number, number>();
  const add = (key: number, weight: number): void => {
    pairWeights.set(key, (pairWeights.get(key) ?? 0) + weight);
  };
  for (const sequence of sequences) {
    for (let p = 0; p < sequence.length; p++) {
      const i = itemOf[sequence[p]];
      const last = Math.min(sequence.length - 1, p + params.window);
      for (let q = p + 1; q <= last; q++) {
        const j = itemOf[sequence[q]];
        if (i === j) continue;
        const gain = eventWeightOf[sequence[q]] * decayPowers[q - p - 1];
        add(i * n + j, gain);
        if (params.backwardWeight > 0) add(j * n + i, params.backwardWeight * gain);
      }
    }
    progress();
  }

  const { nbrIdx, nbrW } = topNeighbours(pairWeights, counts, params, progress);

  const logCounts = Float64Array.from(counts, (c) => Math.log1p(c));
  const maxLogCount = logCounts.reduce((max, l) => Math.max(max, l), 0);
  const prior = Float32Array.from(logCounts, (l) => (l / maxLogCount) * params.popularityBlend);

  const trainingDataHash = hashSequences(interactions, sequences);
  const users = sequences.length;
  return {
    items,
    counts,
    itemCount: n,
    neighbours: params.neighbours,
    nbrIdx,
    nbrW,
    prior,
    params,
    stats: {
      interactions: interactions.length,
      users,
      items: n,
      pairs: pairWeights.size,
      trainingSeconds: (performance.now() - started) / 1000,
      trainingDataHash,
    },
  };
}

/**
 * Normalises the pair weights and keeps each item's top k neighbours in (N+1) x k tables; the
 * extra row, and slots of items with fewer than k neighbours, point at item 0 with weight 0.
 */
function topNeighbours(
  pairWeights: ReadonlyMap<number, number>,
  counts: Int32Array,
  params: ItemItemParams,
  progress: () => void,
): { nbrIdx: Int32Array; nbrW: Float32Array } {
  const n = counts.length;
  const k = params.neighbours;
  // Bucket pairs by source item (CSR) so each row can be ranked on its own.
  const rowStart = new Int32Array(n + 1);
  for (const key of pairWeights.keys()) rowStart[Math.floor(key / n) + 1]++;
  for (let i = 0; i < n; i++) rowStart[i + 1] += rowStart[i];
  const fill = rowStart.slice(0, n);
  const cols = new Int32Array(pairWeights.size);
  const vals = new Float64Array(pairWeights.size);
  const sourceNorm = Float64Array.from(counts, (c) => c ** params.alpha);
  const targetNorm = Float64Array.from(counts, (c) => c ** params.beta);
  for (const [key, weight] of pairWeights) {
    const i = Math.floor(key / n);
    const j = key - i * n;
    const at = fill[i]++;
    cols[at] = j;
    vals[at] = weight / (sourceNorm[i] * targetNorm[j]);
  }

  const nbrIdx = new Int32Array((n + 1) * k);
  const nbrW = new Float32Array((n + 1) * k);
  for (let i = 0; i < n; i++) {
    const row: number[] = [];
    for (let at = rowStart[i]; at < rowStart[i + 1]; at++) if (vals[at] > 0) row.push(at);
    row.sort((a, b) => vals[b] - vals[a] || cols[a] - cols[b]);
    const kept = Math.min(k, row.length);
    for (let t = 0; t < kept; t++) {
      nbrIdx[i * k + t] = cols[row[t]];
      nbrW[i * k + t] = vals[row[t]];
    }
    progress();
  }
  return { nbrIdx, nbrW };
}
