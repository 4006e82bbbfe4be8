import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Interaction } from '../model/types.js';
import {
  DEFAULT_ITEM_ITEM_PARAMS,
  compareIds,
  type ItemItemModel,
  type ItemItemParams,
} from '../model/item-item.js';

export { scoreReference } from '../model/item-item.js';

export type TrainingProgress = (done: number, total: number) => void;

/** Progress is reported every this many units of work (users, then items), and at the end. */
const PROGRESS_STEP = 1024;

export function resolveParams(overrides: Partial<ItemItemParams>): ItemItemParams {
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
  for (const name of ['decay', 'backwardWeight', 'alpha', 'beta', 'popularityBlend', 'defaultEventWeight', 'userLengthExponent', 'repeatWeight'] as const) {
    nonNegative(name, params[name]);
  }
  if (!(params.recencyDecay > 0 && params.recencyDecay <= 1)) {
    throw new Error(`trainItemItem: recencyDecay must be in (0, 1], got ${params.recencyDecay}`);
  }
  for (const [type, weight] of Object.entries(params.eventWeights)) nonNegative(`eventWeights.${type}`, weight);
  return params;
}

/**
 * Each user's interaction positions in time order; users by id. Equal timestamps fall back to
 * item, event type and value, so the same data set gives the same sequences (and model) however
 * it was ordered on input.
 */
export interface UserHistory {
  userId: string;
  /** The user's interactions in the trainer's canonical time order. */
  events: Interaction[];
}

/** Each user's interactions in canonical time order (the order the trainer uses); users by id. */
export function userHistories(interactions: readonly Interaction[]): UserHistory[] {
  const { users, positions } = canonicalUserSequences(interactions);
  return users.map((userId, u) => ({ userId, events: positions[u].map((p) => interactions[p]) }));
}

function canonicalSequences(interactions: readonly Interaction[]): number[][] {
  return canonicalUserSequences(interactions).positions;
}

function canonicalUserSequences(interactions: readonly Interaction[]): { users: string[]; positions: number[][] } {
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
  const users = [...byUser.keys()].sort(compareIds);
  return { users, positions: users.map((user) => (byUser.get(user) ?? []).sort(inTimeOrder)) };
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
 * A data set in the trainer's terms: the vocabulary (interacted items plus any catalog-only
 * items, sorted by id) and each user's item indices in canonical time order. Preparing once lets
 * a tuner fit many parameter settings without re-sorting or re-hashing.
 */
export interface PreparedData {
  items: string[];
  indexOf: ReadonlyMap<string, number>;
  /** Per user (users sorted by id): item indices in time order. */
  sequences: Int32Array[];
  /** Parallel to `sequences`: index into `eventTypes`. */
  eventTypeOf: Uint16Array[];
  /** Parallel to `sequences`: epoch ms. */
  times: Float64Array[];
  /** User ids, parallel to `sequences`. */
  users: string[];
  eventTypes: string[];
  /** Interactions per item, by index. */
  counts: Int32Array;
  interactions: number;
  trainingDataHash: string;
}

/**
 * Canonical sequences, vocabulary and hash of a data set. `catalog` adds items that have no
 * interactions (they get no neighbours and a zero prior, but can be scored and served).
 */
export function prepareInteractions(interactions: readonly Interaction[], catalog: readonly string[] = []): PreparedData {
  if (interactions.length === 0) throw new Error('trainItemItem: no interactions to train on');
  const items = [...new Set([...interactions.map((x) => x.itemId), ...catalog])].sort(compareIds);
  const indexOf = new Map(items.map((id, i) => [id, i] as const));
  const typeIndex = new Map<string, number>();
  const eventTypes: string[] = [];
  const { users, positions } = canonicalUserSequences(interactions);
  const counts = new Int32Array(items.length);
  const sequences = positions.map((sequence) => Int32Array.from(sequence, (p) => indexOf.get(interactions[p].itemId) ?? -1));
  for (const sequence of sequences) for (const i of sequence) counts[i]++;
  const eventTypeOf = positions.map((sequence) =>
    Uint16Array.from(sequence, (p) => {
      const type = interactions[p].eventType;
      let at = typeIndex.get(type);
      if (at === undefined) {
        at = eventTypes.length;
        if (at > 0xffff) throw new Error('trainItemItem: more than 65536 event types');
        typeIndex.set(type, at);
        eventTypes.push(type);
      }
      return at;
    }),
  );
  return {
    items,
    indexOf,
    sequences,
    eventTypeOf,
    times: positions.map((sequence) => Float64Array.from(sequence, (p) => interactions[p].timestamp)),
    users,
    eventTypes,
    counts,
    interactions: interactions.length,
    trainingDataHash: hashSequences(interactions, positions),
  };
}

/**
 * Sequence-aware item-item co-occurrence. For positions p < q <= p + window of one user's
 * sequence (items i then j), with g = eventWeight(j) * decay^(q-p-1) * recencyDecay^(later) *
 * length^-userLengthExponent, `later` being how many of the user's interactions follow q and
 * `length` the user's number of interactions:
 *   w[i][j] += g                   (j followed i; times repeatWeight when j == i)
 *   w[j][i] += backwardWeight * g  (i preceded j; i != j)
 * then w[i][j] /= count_i^alpha * count_j^beta (counts weighted by recencyDecay the same way),
 * the top `neighbours` per item are kept (ties by lower index), and the prior is
 * log1p(count) / max log1p(count) * popularityBlend.
 */
export function trainItemItem(
  interactions: readonly Interaction[],
  overrides: Partial<ItemItemParams> = {},
  onProgress?: TrainingProgress,
  catalog: readonly string[] = [],
): ItemItemModel {
  const started = performance.now();
  const params = resolveParams(overrides);
  const data = prepareInteractions(interactions, catalog);
  return fitItemItem(data, params, onProgress, started);
}

/** Mean over items with neighbours of their heaviest neighbour weight: a table's scale. */
export function tableScale(tables: { itemCount: number; neighbours: number; nbrW: Float32Array }): number {
  let sum = 0;
  let rows = 0;
  for (let i = 0; i < tables.itemCount; i++) {
    const top = tables.nbrW[i * tables.neighbours];
    if (top > 0) {
      sum += top;
      rows++;
    }
  }
  return rows === 0 ? 1 : sum / rows;
}

/**
 * `model` with a long-term part (see LongTermTables): the tables of `longTerm` (fitted on the
 * same vocabulary with its own parameters, typically a wide symmetric window), rescaled to the
 * main table's scale (see tableScale) and multiplied by `blend`.
 */
export function withLongTerm(model: ItemItemModel, longTerm: ItemItemModel, blend: number, exponent: number): ItemItemModel {
  if (longTerm.itemCount !== model.itemCount) throw new Error('withLongTerm: the two models have different vocabularies');
  if (!(blend > 0) || !Number.isFinite(blend)) throw new Error(`withLongTerm: blend must be > 0, got ${blend}`);
  const scale = (blend * tableScale(model)) / tableScale(longTerm);
  const p = longTerm.params;
  return {
    ...model,
    longTerm: {
      neighbours: longTerm.neighbours,
      nbrIdx: longTerm.nbrIdx,
      nbrW: Float32Array.from(longTerm.nbrW, (w) => w * scale),
      exponent,
    },
    longTermParams: {
      blend,
      scale,
      exponent,
      window: p.window,
      decay: p.decay,
      backwardWeight: p.backwardWeight,
      alpha: p.alpha,
      beta: p.beta,
      neighbours: p.neighbours,
      recencyDecay: p.recencyDecay,
      userLengthExponent: p.userLengthExponent,
    },
  };
}

/** Pair weights of one sequence pass, bucketed by source item (CSR, duplicates summed). */
export interface PairTable {
  rowStart: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
  /** Per item: sum over its interactions of recencyDecay^(later interactions of the user). */
  weightedCounts: Float64Array;
}

/** The parameters `accumulatePairs` depends on; a tuner can cache a PairTable by them. */
export function pairKey(params: ItemItemParams): string {
  const { window, decay, backwardWeight, recencyDecay, userLengthExponent, repeatWeight, eventWeights, defaultEventWeight } = params;
  return JSON.stringify([window, decay, backwardWeight, recencyDecay, userLengthExponent, repeatWeight, eventWeights, defaultEventWeight]);
}

export function accumulatePairs(data: PreparedData, params: ItemItemParams, progress: () => void = () => {}): PairTable {
  const n = data.items.length;
  const { window, backwardWeight, recencyDecay } = params;
  const typeWeight = Float64Array.from(data.eventTypes, (type) =>
    Object.hasOwn(params.eventWeights, type) ? params.eventWeights[type] : params.defaultEventWeight,
  );
  const decayPowers = Float64Array.from({ length: window }, (_, gap) => params.decay ** gap);
  const weightedCounts = new Float64Array(n);
  // Pass 1: how many raw entries each source row gets.
  const rawStart = new Int32Array(n + 1);
  for (const sequence of data.sequences) {
    const length = sequence.length;
    for (let p = 0; p < length; p++) {
      const last = Math.min(length - 1, p + window);
      rawStart[sequence[p] + 1] += last - p;
      if (backwardWeight > 0) for (let q = p + 1; q <= last; q++) rawStart[sequence[q] + 1]++;
    }
  }
  for (let i = 0; i < n; i++) rawStart[i + 1] += rawStart[i];
  const fill = rawStart.slice(0, n);
  const rawCols = new Int32Array(rawStart[n]);
  const rawVals = new Float64Array(rawStart[n]);
  // Pass 2: the raw entries.
  data.sequences.forEach((sequence, u) => {
    const types = data.eventTypeOf[u];
    const length = sequence.length;
    const userWeight = params.userLengthExponent === 0 ? 1 : length ** -params.userLengthExponent;
    let recency = 1;
    const recencyOf = new Float64Array(length);
    for (let q = length - 1; q >= 0; q--) {
      recencyOf[q] = recency * userWeight;
      weightedCounts[sequence[q]] += recency;
      recency *= recencyDecay;
    }
    for (let p = 0; p < length; p++) {
      const i = sequence[p];
      const last = Math.min(length - 1, p + window);
      for (let q = p + 1; q <= last; q++) {
        const j = sequence[q];
        const gain = (i === j ? params.repeatWeight : 1) * typeWeight[types[q]] * decayPowers[q - p - 1] * recencyOf[q];
        let at = fill[i]++;
        rawCols[at] = j;
        rawVals[at] = gain;
        if (backwardWeight > 0) {
          // A repeat's reverse is the same cell: counted once.
          at = fill[j]++;
          rawCols[at] = i;
          rawVals[at] = i === j ? 0 : backwardWeight * gain;
        }
      }
    }
    progress();
  });
  // Pass 3: sum duplicates per row with a dense scratch row.
  const scratch = new Float64Array(n);
  const seen = new Uint8Array(n);
  const touched = new Int32Array(n);
  const rowStart = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    let count = 0;
    for (let at = rawStart[i]; at < rawStart[i + 1]; at++) {
      const j = rawCols[at];
      if (!seen[j]) {
        seen[j] = 1;
        touched[count++] = j;
      }
      scratch[j] += rawVals[at];
    }
    for (let t = 0; t < count; t++) {
      const j = touched[t];
      if (scratch[j] > 0) {
        cols.push(j);
        vals.push(scratch[j]);
      }
      scratch[j] = 0;
      seen[j] = 0;
    }
    rowStart[i + 1] = cols.length;
  }
  return { rowStart, cols: Int32Array.from(cols), vals: Float64Array.from(vals), weightedCounts };
}

/** Fits the item-item tables on prepared data; `pairs` may come from a cache (see pairKey). */
export function fitItemItem(
  data: PreparedData,
  params: ItemItemParams,
  onProgress?: TrainingProgress,
  started = performance.now(),
  pairs?: PairTable,
): ItemItemModel {
  const n = data.items.length;
  const total = data.sequences.length + n;
  let done = 0;
  const progress = (): void => {
    done++;
    if (onProgress && (done % PROGRESS_STEP === 0 || done === total)) onProgress(done, total);
  };
  let table = pairs;
  if (table === undefined) table = accumulatePairs(data, params, progress);
  else for (let u = 0; u < data.sequences.length; u++) progress();

  const { nbrIdx, nbrW } = topNeighbours(table, params, progress);
  const logCounts = Float64Array.from(table.weightedCounts, (c) => Math.log1p(c));
  const maxLogCount = logCounts.reduce((max, l) => Math.max(max, l), 0);
  const prior = Float32Array.from(logCounts, (l) => (maxLogCount > 0 ? (l / maxLogCount) * params.popularityBlend : 0));

  return {
    items: data.items,
    counts: data.counts,
    itemCount: n,
    neighbours: params.neighbours,
    nbrIdx,
    nbrW,
    prior,
    params,
    stats: {
      interactions: data.interactions,
      users: data.sequences.length,
      items: n,
      pairs: table.cols.length,
      trainingSeconds: (performance.now() - started) / 1000,
      trainingDataHash: data.trainingDataHash,
    },
  };
}

/** The k-th largest of values[0..length) (1-based k <= length); reorders `values` (quickselect). */
function kthLargest(values: Float64Array, length: number, k: number): number {
  let lo = 0;
  let hi = length - 1;
  const want = k - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1];
    let a = lo;
    let b = hi;
    while (a <= b) {
      while (values[a] > pivot) a++;
      while (values[b] < pivot) b--;
      if (a <= b) {
        const swap = values[a];
        values[a] = values[b];
        values[b] = swap;
        a++;
        b--;
      }
    }
    if (want <= b) hi = b;
    else if (want >= a) lo = a;
    else return values[want];
  }
  return values[want];
}

/**
 * Normalises the pair weights and keeps each item's top k neighbours in (N+1) x k tables; the
 * extra row, and slots of items with fewer than k neighbours, point at item 0 with weight 0.
 */
function topNeighbours(
  table: PairTable,
  params: ItemItemParams,
  progress: () => void,
): { nbrIdx: Int32Array; nbrW: Float32Array } {
  const { rowStart, cols, vals, weightedCounts } = table;
  const n = weightedCounts.length;
  const k = params.neighbours;
  const sourceNorm = Float64Array.from(weightedCounts, (c) => c ** params.alpha);
  const targetNorm = Float64Array.from(weightedCounts, (c) => c ** params.beta);
  const nbrIdx = new Int32Array((n + 1) * k);
  const nbrW = new Float32Array((n + 1) * k);
  let normalised = new Float64Array(0);
  let scratch = new Float64Array(0);
  for (let i = 0; i < n; i++) {
    const from = rowStart[i];
    const length = rowStart[i + 1] - from;
    if (normalised.length < length) {
      normalised = new Float64Array(Math.max(length, normalised.length * 2));
      scratch = new Float64Array(normalised.length);
    }
    for (let t = 0; t < length; t++) normalised[t] = vals[from + t] / (sourceNorm[i] * targetNorm[cols[from + t]]);
    // Only entries at least as heavy as the k-th heaviest can make the cut; rank just those.
    let threshold = -Infinity;
    if (length > k) {
      scratch.set(normalised.subarray(0, length));
      threshold = kthLargest(scratch, length, k);
    }
    const row: number[] = [];
    for (let t = 0; t < length; t++) if (normalised[t] >= threshold) row.push(t);
    row.sort((a, b) => normalised[b] - normalised[a] || cols[from + a] - cols[from + b]);
    const kept = Math.min(k, row.length);
    for (let t = 0; t < kept; t++) {
      nbrIdx[i * k + t] = cols[from + row[t]];
      nbrW[i * k + t] = normalised[row[t]];
    }
    progress();
  }
  return { nbrIdx, nbrW };
}
