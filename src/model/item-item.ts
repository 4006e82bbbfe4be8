import type { ModelInput, ScoredItem } from './types.js';
import { encodeHistory } from './input-encoding.js';

/** Name recorded in the manifest; also the prefix of a bundle's version. */
export const ITEM_ITEM_ALGORITHM = 'item-item';
/** The same, blended with a low-rank embedding part (see EmbeddingTables). */
export const ITEM_ITEM_EMBEDDING_ALGORITHM = 'item-item-emb';

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
  /**
   * Recency of the training data: a pair (and an item's count) is weighted by this factor per
   * later interaction of the same user, so recent behaviour counts more. 1 = all alike.
   */
  recencyDecay: number;
  /**
   * A user's pairs are weighted by (their number of interactions)^-userLengthExponent, so users
   * with very long histories (and quadratically many pairs) do not drown out the rest. 0 = off.
   */
  userLengthExponent: number;
  /**
   * Weight of an item following itself (a repeat within the window), relative to other pairs:
   * lets the model recommend items of the session again where the data repeats. 0 = never.
   */
  repeatWeight: number;
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
  recencyDecay: 1,
  userLengthExponent: 0,
  repeatWeight: 0,
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
 * Optional low-rank part of a model: the history's weights, normalised to sum 1, pool the input
 * embeddings of its items; the pooled vector's dot product with each item's output embedding
 * (plus the item's bias, if any) is the embedding score. Without `logFusion` it is added to the
 * neighbour score; with it the result is scale * ln(epsilon + neighbour score) + embedding
 * score: both terms then read as log-probabilities.
 */
export interface EmbeddingTables {
  /** D: embedding width. */
  dim: number;
  /** [(itemCount + 1) * dim], row-major; row itemCount (padding) is all 0. */
  input: Float32Array;
  /** [itemCount * dim], row-major, already multiplied by the blend weight (linear fusion). */
  output: Float32Array;
  /** [itemCount], with logFusion only (linear fusion folds biases into the prior). */
  bias?: Float32Array;
  logFusion?: { epsilon: number; scale: number };
}

/** Guards the weight normalisations (embedding part, long-term part) against an all-padding row. */
export const WEIGHT_SUM_FLOOR = 1e-12;

/**
 * Optional second neighbour table read with a flatter recency: slot weights become
 * (w / max w)^exponent (exponent 0: 1 for every item of the state, 0 for padding), so with the
 * reducer's positional decay d this table sees a decay of d^exponent: long-term taste next to
 * the short-term neighbours of the main table. Its padding row is all 0.
 */
export interface LongTermTables {
  neighbours: number;
  /** [(itemCount + 1) * neighbours]. */
  nbrIdx: Int32Array;
  /** [(itemCount + 1) * neighbours], already multiplied by the blend weight. */
  nbrW: Float32Array;
  exponent: number;
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
  longTerm?: LongTermTables;
  embedding?: EmbeddingTables;
}

export interface ItemItemModel extends ScoringTables {
  /** Vocabulary: index -> external item id, sorted by id (UTF-16 code units). */
  items: string[];
  /** Interactions per item, by index. */
  counts: Int32Array;
  params: ItemItemParams;
  stats: TrainingStats;
  /** Parameters of the embedding part, when there is one (recorded in the manifest). */
  embeddingParams?: Record<string, number>;
  /** Parameters of the long-term part, when there is one (recorded in the manifest). */
  longTermParams?: Record<string, number>;
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
  const { itemCount } = tables;
  const scores = scoreAll(tables, rowIdx, rowW);
  const order = Array.from({ length: itemCount }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const top = order.slice(0, Math.max(0, Math.min(k, itemCount)));
  return { indices: top, scores: top.map((i) => scores[i]) };
}

/**
 * Every item's score for one row, as the graph computes it before TopK: the neighbour part is
 * bit-exact (float32 sums in the graph's order); the embedding part, when present, agrees to
 * float32 rounding (onnxruntime's MatMul sums in its own order).
 */
export function scoreAll(tables: ScoringTables, rowIdx: ArrayLike<number>, rowW: ArrayLike<number>, into?: Float32Array): Float32Array {
  const { itemCount, neighbours, nbrIdx, nbrW, prior } = tables;
  if (rowIdx.length !== rowW.length) throw new Error('scoreIndices: rowIdx and rowW differ in length');
  // Float32Array stores round every sum to float32, like ScatterElements' float accumulator.
  const scores = into ?? new Float32Array(itemCount);
  scores.set(prior);
  for (let slot = 0; slot < rowIdx.length; slot++) {
    const item = rowIdx[slot];
    if (!Number.isInteger(item) || item < 0 || item > itemCount) {
      throw new Error(`scoreIndices: item index ${item} outside [0, ${itemCount}]`);
    }
    const weight = Math.fround(rowW[slot]);
    if (weight === 0) continue;
    const base = item * neighbours;
    for (let t = 0; t < neighbours; t++) {
      scores[nbrIdx[base + t]] += Math.fround(nbrW[base + t] * weight);
    }
  }
  if (tables.longTerm) addLongTermScores(tables.longTerm, rowIdx, rowW, scores);
  if (tables.embedding) addEmbeddingScores(tables.embedding, itemCount, rowIdx, rowW, scores);
  return scores;
}

/** The long-term part's slot weights (see LongTermTables), in float32 like the graph. */
export function longTermWeights(rowW: ArrayLike<number>, exponent: number): Float32Array {
  const out = new Float32Array(rowW.length);
  let max = -Infinity;
  for (let slot = 0; slot < rowW.length; slot++) max = Math.max(max, Math.fround(rowW[slot]));
  const norm = Math.max(max, WEIGHT_SUM_FLOOR);
  for (let slot = 0; slot < rowW.length; slot++) {
    const w = Math.fround(rowW[slot]);
    if (exponent === 0) out[slot] = w > 0 ? 1 : 0;
    else {
      const relative = Math.fround(w / norm);
      out[slot] = exponent === 1 ? relative : Math.fround(Math.pow(relative, exponent));
    }
  }
  return out;
}

function addLongTermScores(
  longTerm: LongTermTables,
  rowIdx: ArrayLike<number>,
  rowW: ArrayLike<number>,
  scores: Float32Array,
): void {
  const { neighbours, nbrIdx, nbrW } = longTerm;
  const weights = longTermWeights(rowW, longTerm.exponent);
  for (let slot = 0; slot < rowIdx.length; slot++) {
    const weight = weights[slot];
    if (weight === 0) continue;
    const base = rowIdx[slot] * neighbours;
    for (let t = 0; t < neighbours; t++) scores[nbrIdx[base + t]] += Math.fround(nbrW[base + t] * weight);
  }
}

/** Combines the embedding part's scores (see EmbeddingTables) with the neighbour `scores`, in place. */
export function addEmbeddingScores(
  embedding: EmbeddingTables,
  itemCount: number,
  rowIdx: ArrayLike<number>,
  rowW: ArrayLike<number>,
  scores: Float32Array,
): void {
  const { dim, input, output, bias, logFusion } = embedding;
  let sum = 0;
  for (let slot = 0; slot < rowW.length; slot++) sum = Math.fround(sum + Math.fround(rowW[slot]));
  const norm = Math.max(sum, WEIGHT_SUM_FLOOR);
  const pooled = new Float32Array(dim);
  for (let slot = 0; slot < rowIdx.length; slot++) {
    const w = Math.fround(Math.fround(rowW[slot]) / norm);
    if (w === 0) continue;
    const base = rowIdx[slot] * dim;
    for (let x = 0; x < dim; x++) pooled[x] += Math.fround(w * input[base + x]);
  }
  for (let j = 0; j < itemCount; j++) {
    const base = j * dim;
    let dot = 0;
    for (let x = 0; x < dim; x++) dot += pooled[x] * output[base + x];
    let emb = Math.fround(dot);
    if (bias) emb = Math.fround(emb + bias[j]);
    const neighbour = logFusion
      ? Math.fround(Math.fround(logFusion.scale) * Math.fround(Math.log(Math.fround(scores[j] + Math.fround(logFusion.epsilon)))))
      : scores[j];
    scores[j] = Math.fround(neighbour + emb);
  }
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
