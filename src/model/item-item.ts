import type { ModelInput, ScoredItem } from './types.js';
import { encodeHistory } from './input-encoding.js';

/** Name recorded in the manifest; also the prefix of a bundle's version. */
export const ITEM_ITEM_ALGORITHM = 'item-item';

export interface ItemItemParams {
  /** A pair (p, q) of a user's sequence counts when 0 < q - p <= window. */
  window: number;
  /** Weight of a pair falls by this factor per item between the two. */
  decay: number;
  /** Share of a forward pair's weight credited to the reverse direction. */
  backwardWeight: number;
  /** Exponent of the source item's count in the normalisation. */
  alpha: number;
  /** Exponent of the neighbour item's count in the normalisation. */
  beta: number;
  /** k: neighbours kept per item. */
  neighbours: number;
  /** Scale of the popularity prior; small so that any history outweighs it. */
  popularityBlend: number;
  /** Weight of an interaction by event type; types not listed weigh `defaultEventWeight`. */
  eventWeights: Record<string, number>;
  defaultEventWeight: number;
}

export const DEFAULT_ITEM_ITEM_PARAMS: Readonly<ItemItemParams> = Object.freeze({
  window: 5,
  decay: 0.8,
  backwardWeight: 0.5,
  alpha: 0.5,
  beta: 0.5,
  neighbours: 20,
  popularityBlend: 0.01,
  eventWeights: Object.freeze({ view: 1, click: 1, 'add-to-cart': 2, purchase: 3 }) as Record<string, number>,
  defaultEventWeight: 1,
});

export interface TrainingStats {
  interactions: number;
  users: number;
  items: number;
  /** Distinct directed (item, neighbour) pairs seen before the top-k cut. */
  pairs: number;
  trainingSeconds: number;
  /** sha256 (hex) of the canonical interactions; see `hashInteractions`. */
  trainingDataHash: string;
}

/**
 * The arrays the scoring graph reads. Row `itemCount` of the neighbour tables is the padding
 * row: it points at item 0 with weight 0, so a padded history slot adds nothing.
 */
export interface ScoringTables {
  itemCount: number;
  /** k: neighbour slots per item. */
  neighbours: number;
  /** [(itemCount + 1) * neighbours], row-major. */
  nbrIdx: Int32Array;
  /** [(itemCount + 1) * neighbours], row-major. */
  nbrW: Float32Array;
  /** [itemCount]: popularity prior, already scaled by its blend weight. */
  prior: Float32Array;
}

export interface ItemItemModel extends ScoringTables {
  /** Vocabulary: index -> external item id, sorted by id (UTF-16 code units). */
  items: string[];
  /** Interactions per item, by index. */
  counts: Int32Array;
  params: ItemItemParams;
  stats: TrainingStats;
}

export interface IndexScores {
  indices: number[];
  scores: number[];
}

/** Orders ids by UTF-16 code units, independent of locale, so vocabularies are reproducible. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Pure TypeScript twin of the ONNX graph for one row. Every product and sum is rounded to
 * float32 in the graph's order (slot by slot, neighbour by neighbour) so the two agree to the
 * bit, which lets tests also pin down the top-k order. Ties rank the lower index first, as
 * onnxruntime's TopK does.
 */
export function scoreIndices(
  tables: ScoringTables,
  rowIdx: ArrayLike<number>,
  rowW: ArrayLike<number>,
  k: number,
): IndexScores {
  const { itemCount, neighbours, nbrIdx, nbrW, prior } = tables;
  if (rowIdx.length !== rowW.length) throw new Error('scoreIndices: rowIdx and rowW differ in length');
  // Float32Array stores round every sum to float32, like ScatterElements' float accumulator.
  const scores = Float32Array.from(prior);
  for (let slot = 0; slot < rowIdx.length; slot++) {
    const item = rowIdx[slot];
    if (!Number.isInteger(item) || item < 0 || item > itemCount) {
      throw new Error(`scoreIndices: item index ${item} outside [0, ${itemCount}]`);
    }
    const weight = Math.fround(rowW[slot]);
    const base = item * neighbours;
    for (let t = 0; t < neighbours; t++) {
      scores[nbrIdx[base + t]] += Math.fround(nbrW[base + t] * weight);
    }
  }
  const order = Array.from({ length: itemCount }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const top = order.slice(0, Math.max(0, Math.min(k, itemCount)));
  return { indices: top, scores: top.map((i) => scores[i]) };
}

/**
 * Reference scoring by external ids, with the same input encoding as the Scorer: unknown ids are
 * dropped and, when `historyLength` is given, only that many slots (highest weights) are kept.
 */
export function scoreReference(
  model: ItemItemModel,
  input: ModelInput,
  k: number,
  historyLength?: number,
): ScoredItem[] {
  const indexOf = new Map(model.items.map((id, i) => [id, i] as const));
  const history = encodeHistory(input, indexOf, {
    historyLength: historyLength ?? input.itemIds.length,
    padIndex: model.itemCount,
  });
  const { indices, scores } = scoreIndices(model, history.indices, history.weights, k);
  return indices.map((i, r) => ({ itemId: model.items[i], score: scores[r] }));
}
