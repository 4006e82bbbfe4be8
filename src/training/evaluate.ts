import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultReducerConfig, initialState, reduce, type ReducerConfig, type SessionState } from '../session/state.js';
import { writeBundle, type BundleMeta } from './bundle-writer.js';
import { blendEmbedding, buildExamples, trainEmbeddings, type EmbeddingModel, type EmbeddingParams, type Fusion } from './embeddings.js';
import {
  LEAVE_ONE_OUT_METRICS,
  MetricAccumulator,
  SESSION_METRICS,
  deepestK,
  hitAt,
  ndcgAt,
  rankOf,
  reciprocalRankAt,
  type MetricSpec,
} from './eval-metrics.js';
import { encodeHistory } from '../model/input-encoding.js';
import { addEmbeddingScores, compareIds, scoreAll, type ItemItemModel, type ItemItemParams, type ScoringTables } from '../model/item-item.js';
import { toModelInput } from '../model/recommend.js';
import { toLogEntry, type EncodingShape } from './replay.js';
import { Scorer } from '../model/scorer.js';
import {
  accumulatePairs,
  fitItemItem,
  pairKey,
  withLongTerm,
  prepareInteractions,
  resolveParams,
  userHistories,
  type PairTable,
  type PreparedData,
  type UserHistory,
} from './trainer.js';
import type { Interaction } from '../model/types.js';
import { caseKey, scoreReferenceRows, type ReferenceRow } from './reference-lists.js';

/*
 * Offline evaluation (issue 3). Two protocols:
 *  - leave-one-out (s3rec, csv): per user, the last item is the test target (history: all before
 *    it), the second-to-last the validation target; models for both are trained on all but each
 *    user's last two items. Every item is scored and the user's history items are excluded.
 *  - sessions (rsc15, session-rec's protocol): after each click p of a test session the next click
 *    is the target; history items are NOT excluded (session-rec's convention for rsc15).
 * Reported numbers always go through the serving path: history -> log entries -> reduce (the
 * bundle's reducer settings) -> toModelInput -> the ONNX bundle loaded by Scorer. Tuning scores
 * the same inputs with the graph's TypeScript twin (scoreAll), which is much faster.
 */

export type Protocol = 'leave-one-out' | 'sessions';
export type Log = (message: string) => void;

/** One user's (or session's) events and the prefix lengths at which a next item is predicted. */
export interface CaseGroup {
  userId: string;
  events: readonly Interaction[];
  /** Ascending; each p in [1, events.length - 1]: history events[0..p), target events[p]. */
  prefixes: readonly number[];
}

export function caseCount(groups: readonly CaseGroup[]): number {
  return groups.reduce((sum, g) => sum + g.prefixes.length, 0);
}

/**
 * Leave-one-out cases: the target is `fromEnd` items before the end (1 = the last item); users
 * whose history before the target would be empty are skipped.
 */
export function leaveOneOutGroups(histories: readonly UserHistory[], fromEnd: number): CaseGroup[] {
  const groups: CaseGroup[] = [];
  for (const { userId, events } of histories) {
    const prefix = events.length - fromEnd;
    if (prefix >= 1) groups.push({ userId, events, prefixes: [prefix] });
  }
  return groups;
}

/** Every next-click case of every session (sessions of one click have none). */
export function sessionGroups(histories: readonly UserHistory[]): CaseGroup[] {
  return histories
    .filter(({ events }) => events.length >= 2)
    .map(({ userId, events }) => ({ userId, events, prefixes: Array.from({ length: events.length - 1 }, (_, p) => p + 1) }));
}

/** All but the last `drop` interactions of each user. */
export function trainingPart(histories: readonly UserHistory[], drop: number): Interaction[] {
  const out: Interaction[] = [];
  for (const { events } of histories) for (let p = 0; p < events.length - drop; p++) out.push(events[p]);
  return out;
}

/** At most `max` values, evenly spaced: a deterministic sample for tuning. */
function sample<T>(values: readonly T[], max: number): T[] {
  if (values.length <= max) return [...values];
  const stride = values.length / max;
  return Array.from({ length: max }, (_, i) => values[Math.floor(i * stride)]);
}

/** Calls `visit(index, state)` with the reduced state at each of the group's prefixes. */
export function replayPrefixes(group: CaseGroup, config: ReducerConfig, visit: (index: number, state: SessionState) => void): void {
  let state = initialState();
  let next = 0;
  const last = group.prefixes[group.prefixes.length - 1] ?? 0;
  for (let p = 0; p < last; p++) {
    state = reduce(state, toLogEntry(group.events[p], p), config);
    while (next < group.prefixes.length && group.prefixes[next] === p + 1) visit(next++, state);
  }
}

/** The reducer settings a bundle records: everything that shapes the model's input. */
export function reducerOverrides(config: ReducerConfig): Partial<ReducerConfig> {
  return {
    halfLifeMs: config.halfLifeMs,
    positionDecay: config.positionDecay,
    itemWeightsMax: config.itemWeightsMax,
    eventWeights: { ...config.eventWeights },
    defaultEventWeight: config.defaultEventWeight,
  };
}

// ---------------------------------------------------------------------------------------------
// The serving path

export interface ScoredCaseVisitor {
  (list: readonly string[], target: string, history: ReadonlySet<string>): void;
}

/**
 * Scores every case through the serving path and hands each case's top `listLength` list (after
 * excluding history items when `exclude`) to `visit`, in case order. A state without items is
 * answered with the bundle's popular items, as the server does on a cold start.
 */
export async function scoreWithScorer(
  scorer: Scorer,
  groups: readonly CaseGroup[],
  config: ReducerConfig,
  options: { listLength: number; exclude: boolean; onProgress?: (done: number, total: number) => void },
  visit: ScoredCaseVisitor,
): Promise<void> {
  const total = caseCount(groups);
  let done = 0;
  type Pending = { result: Promise<{ itemId: string }[]> | { itemId: string }[]; target: string; history: Set<string> };
  let pending: Pending[] = [];
  const drain = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    const results = await Promise.all(batch.map((p) => p.result));
    batch.forEach(({ target, history }, c) => {
      const list: string[] = [];
      for (const { itemId } of results[c]) {
        if (options.exclude && history.has(itemId)) continue;
        list.push(itemId);
        if (list.length === options.listLength) break;
      }
      visit(list, target, history);
    });
    done += batch.length;
    options.onProgress?.(done, total);
  };
  for (const group of groups) {
    const history = new Set<string>();
    let seen = 0;
    const cases: Pending[] = [];
    replayPrefixes(group, config, (index, state) => {
      const prefix = group.prefixes[index];
      for (; seen < prefix; seen++) history.add(group.events[seen].itemId);
      const snapshot = new Set(history);
      const k = Math.min(scorer.itemCount, options.listLength + (options.exclude ? snapshot.size : 0));
      const result = state.itemSums.length === 0 ? scorer.popular(k) : scorer.score(toModelInput(state), k);
      cases.push({ result, target: group.events[prefix].itemId, history: snapshot });
    });
    pending.push(...cases);
    if (pending.length >= 256) await drain();
  }
  if (pending.length > 0) await drain();
}

export async function metricsWithScorer(
  scorer: Scorer,
  groups: readonly CaseGroup[],
  config: ReducerConfig,
  spec: MetricSpec,
  exclude: boolean,
  catalogSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Record<string, number>> {
  const metrics = new MetricAccumulator(spec, catalogSize);
  await scoreWithScorer(scorer, groups, config, { listLength: deepestK(spec), exclude, onProgress }, (list, target) =>
    metrics.add(rankOf(list, target), list),
  );
  return metrics.result();
}

/** Items by training count, most first, ties by id; catalog items never seen come last (by id). */
export function popularityOrder(train: readonly Interaction[], catalog: readonly string[] = []): string[] {
  const counts = new Map<string, number>();
  for (const { itemId } of train) counts.set(itemId, (counts.get(itemId) ?? 0) + 1);
  for (const itemId of catalog) if (!counts.has(itemId)) counts.set(itemId, 0);
  return [...counts].sort((a, b) => b[1] - a[1] || compareIds(a[0], b[0])).map(([id]) => id);
}

/** The popularity baseline under the same protocol: the same list for everyone, minus their history. */
export function popularityMetrics(
  order: readonly string[],
  groups: readonly CaseGroup[],
  spec: MetricSpec,
  exclude: boolean,
  catalogSize: number,
): Record<string, number> {
  const metrics = new MetricAccumulator(spec, catalogSize);
  const depth = deepestK(spec);
  for (const group of groups) {
    for (const prefix of group.prefixes) {
      const history = exclude ? new Set(group.events.slice(0, prefix).map((x) => x.itemId)) : new Set<string>();
      const list: string[] = [];
      for (const itemId of order) {
        if (history.has(itemId)) continue;
        list.push(itemId);
        if (list.length === depth) break;
      }
      metrics.add(rankOf(list, group.events[prefix].itemId), list);
    }
  }
  return metrics.result();
}

// ---------------------------------------------------------------------------------------------
// The twin path used for tuning

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
function rankInScores(scores: Float32Array, cases: EncodedCases, c: number): number | null {
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

/** What tuning maximises, averaged over cases: HR@10 + NDCG@10 (leave-one-out) or HR@20 + MRR@20 (sessions). */
export function caseObjective(protocol: Protocol, rank: number | null): number {
  return protocol === 'sessions' ? hitAt(rank, 20) + reciprocalRankAt(rank, 20) : hitAt(rank, 10) + ndcgAt(rank, 10);
}

function objectiveOf(protocol: Protocol, metrics: Record<string, number>): number {
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

function tuningSpec(protocol: Protocol): MetricSpec {
  return protocol === 'sessions' ? SESSION_METRICS : { hr: [10, 20], ndcg: [10, 20], mrr: [], coverage: [] };
}

// ---------------------------------------------------------------------------------------------
// Tuning

/** The long-term part's settings; blend 0 leaves it out. */
export interface LongTermSettings {
  params: ItemItemParams;
  blend: number;
  exponent: number;
}

/** What tuning chooses: the trainer's parameters and the reducer settings of the model input. */
export interface TunedSettings {
  params: ItemItemParams;
  longTerm: LongTermSettings;
  positionDecay: number;
  halfLifeMs: number;
  historyLength: number;
}

export interface TuningFold {
  data: PreparedData;
  groups: CaseGroup[];
}

export interface TuneOptions {
  protocol: Protocol;
  /** Also tune the reducer's half-life (data with real timestamps). */
  tuneHalfLife: boolean;
  /** Stop starting new trials after this long. */
  budgetMs: number;
  base: ReducerConfig;
  start?: TunedSettings;
  /** A change is kept only when it wins by this many standard errors (paired, per case). Default 0.5. */
  significance?: number;
  log?: Log;
}

/** A half-life so long that time plays no part (s3rec's synthetic minutes; position decay does the work). */
export const NO_TIME_DECAY_MS = 365 * 24 * 3600 * 1000;

export const TUNING_START: TunedSettings = {
  params: resolveParams({
    window: 8,
    decay: 0.8,
    backwardWeight: 0.25,
    alpha: 0.25,
    beta: 0,
    neighbours: 100,
    popularityBlend: 0.01,
    recencyDecay: 1,
  }),
  longTerm: {
    params: resolveParams({ window: 200, decay: 1, backwardWeight: 1, alpha: 0.5, beta: 0.5, neighbours: 100, popularityBlend: 0, userLengthExponent: 0.5 }),
    blend: 0,
    exponent: 0.05,
  },
  positionDecay: 0.5,
  halfLifeMs: NO_TIME_DECAY_MS,
  historyLength: 20,
};

type Knob = {
  name: string;
  values: readonly number[];
  get(s: TunedSettings): number;
  set(s: TunedSettings, v: number): TunedSettings;
  /** Only matters when the long-term part is blended in. */
  longTerm?: boolean;
  /** Only matters when users interact with an item more than once. */
  repeats?: boolean;
};

const param = (name: keyof ItemItemParams & string, values: readonly number[]): Knob => ({
  name,
  values,
  get: (s) => s.params[name] as number,
  set: (s, v) => ({ ...s, params: { ...s.params, [name]: v } }),
});

const longTermParam = (name: keyof ItemItemParams & string, values: readonly number[]): Knob => ({
  name: `longTerm.${name}`,
  values,
  longTerm: true,
  get: (s) => s.longTerm.params[name] as number,
  set: (s, v) => ({ ...s, longTerm: { ...s.longTerm, params: { ...s.longTerm.params, [name]: v } } }),
});

function knobs(tuneHalfLife: boolean): Knob[] {
  const minute = 60_000;
  return [
    { name: 'positionDecay', values: [0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1], get: (s) => s.positionDecay, set: (s, v) => ({ ...s, positionDecay: v }) },
    ...(tuneHalfLife
      ? [{
          name: 'halfLifeMs',
          values: [2 * minute, 10 * minute, 30 * minute, 120 * minute, 24 * 60 * minute, NO_TIME_DECAY_MS],
          get: (s: TunedSettings) => s.halfLifeMs,
          set: (s: TunedSettings, v: number) => ({ ...s, halfLifeMs: v }),
        }]
      : []),
    {
      name: 'longTerm.blend',
      values: [0, 0.1, 0.3, 1, 3, 10],
      get: (s) => s.longTerm.blend,
      set: (s, v) => ({ ...s, longTerm: { ...s.longTerm, blend: v } }),
    },
    { name: 'historyLength', values: [5, 10, 20, 30, 50], get: (s) => s.historyLength, set: (s, v) => ({ ...s, historyLength: v }) },
    {
      name: 'longTerm.exponent',
      values: [0, 0.05, 0.15, 0.3, 0.5, 1],
      longTerm: true,
      get: (s) => s.longTerm.exponent,
      set: (s, v) => ({ ...s, longTerm: { ...s.longTerm, exponent: v } }),
    },
    longTermParam('userLengthExponent', [0, 0.5, 1]),
    param('window', [1, 2, 3, 5, 8, 12, 20, 50]),
    param('decay', [0.5, 0.7, 0.85, 1]),
    param('backwardWeight', [0, 0.1, 0.25, 0.5, 1]),
    param('alpha', [0, 0.25, 0.5, 0.75]),
    param('beta', [0, 0.25, 0.5]),
    param('neighbours', [50, 100, 200]),
    param('popularityBlend', [0, 0.01, 0.03, 0.1]),
    param('recencyDecay', [1, 0.98, 0.95, 0.9]),
    param('userLengthExponent', [0, 0.5, 1]),
    { ...param('repeatWeight', [0, 0.5, 1, 2, 4]), repeats: true },
    longTermParam('window', [20, 50, 200]),
    longTermParam('alpha', [0.25, 0.5, 0.75]),
    longTermParam('beta', [0.25, 0.5, 0.75]),
    longTermParam('neighbours', [50, 100, 200]),
  ];
}

/** The item-item model of tuned settings (with its long-term part when blended), fitted on `data`. */
export function fitTuned(data: PreparedData, settings: TunedSettings, fit: (params: ItemItemParams) => ItemItemModel = (params) => fitItemItem(data, params)): ItemItemModel {
  const model = fit(settings.params);
  if (!(settings.longTerm.blend > 0)) return model;
  return withLongTerm(model, fit(settings.longTerm.params), settings.longTerm.blend, settings.longTerm.exponent);
}

/** A small least-recently-used cache. */
function lru<V>(size: number): (key: string, make: () => V) => V {
  const entries = new Map<string, V>();
  return (key, make) => {
    let value = entries.get(key);
    if (value === undefined) {
      value = make();
      if (entries.size >= size) entries.delete(entries.keys().next().value as string);
    } else entries.delete(key);
    entries.set(key, value);
    return value;
  };
}

export function reducerFor(base: ReducerConfig, settings: Pick<TunedSettings, 'positionDecay' | 'halfLifeMs' | 'historyLength'>): ReducerConfig {
  return {
    ...base,
    positionDecay: settings.positionDecay,
    halfLifeMs: settings.halfLifeMs,
    itemWeightsMax: Math.max(base.itemWeightsMax, settings.historyLength),
  };
}

export interface TuningResult {
  settings: TunedSettings;
  /** Twin metrics of the chosen settings, averaged over folds. */
  metrics: Record<string, number>;
  trials: number;
}

/**
 * Coordinate descent over a small grid, on the folds' validation cases only, until a round
 * changes nothing or the budget is spent. Pair tables and encoded cases are cached, so a trial
 * costs one normalisation and one pass over the cases.
 */
export function tuneItemItem(folds: readonly TuningFold[], options: TuneOptions): TuningResult {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const spec = tuningSpec(options.protocol);
  const exclude = options.protocol === 'leave-one-out';
  const pairCache = folds.map(() => lru<PairTable>(4));
  const fitCache = folds.map(() => lru<ItemItemModel>(6));
  const caseCache = folds.map(() => new Map<string, EncodedCases>());
  type Trial = { objective: number; metrics: Record<string, number>; perCase: Float64Array };
  const results = new Map<string, Trial>();
  let trials = 0;
  const totalCases = folds.reduce((sum, fold) => sum + caseCount(fold.groups), 0);
  const z = options.significance ?? 0.5;

  const evaluate = (settings: TunedSettings): Trial => {
    const key = JSON.stringify(settings);
    const known = results.get(key);
    if (known) return known;
    trials++;
    const sums: Record<string, number> = {};
    const perCase = new Float64Array(totalCases);
    let offset = 0;
    folds.forEach((fold, f) => {
      const fit = (params: ItemItemParams): ItemItemModel =>
        fitCache[f](JSON.stringify(params), () => {
          const pairs = pairCache[f](pairKey(params), () => accumulatePairs(fold.data, params));
          return fitItemItem(fold.data, params, undefined, performance.now(), pairs);
        });
      const model = fitTuned(fold.data, settings, fit);
      const ck = JSON.stringify([settings.positionDecay, settings.halfLifeMs, settings.historyLength]);
      let cases = caseCache[f].get(ck);
      if (!cases) {
        const config = reducerFor(options.base, settings);
        cases = encodeCases(fold.groups, config, settings.historyLength, fold.data.indexOf, fold.data.items.length, exclude);
        caseCache[f].set(ck, cases);
      }
      const metrics = evaluateTwin(model, cases, spec, { protocol: options.protocol, out: perCase, offset });
      offset += cases.count;
      for (const [name, value] of Object.entries(metrics)) sums[name] = (sums[name] ?? 0) + value / folds.length;
    });
    const result = { objective: objectiveOf(options.protocol, sums), metrics: sums, perCase };
    results.set(key, result);
    return result;
  };

  let best: TunedSettings = options.start ?? TUNING_START;
  if (!options.tuneHalfLife) best = { ...best, halfLifeMs: options.start?.halfLifeMs ?? NO_TIME_DECAY_MS };
  let bestResult = evaluate(best);
  const describe = (m: Record<string, number>): string =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(' ');
  log(`tuning: start ${describe(bestResult.metrics)}`);
  const grid = knobs(options.tuneHalfLife);
  const hasRepeats = folds.some((fold) => fold.data.sequences.some((sequence) => new Set(sequence).size < sequence.length));
  const overBudget = (): boolean => performance.now() - started > options.budgetMs;
  for (let round = 0; round < 3 && !overBudget(); round++) {
    let changed = false;
    for (const knob of grid) {
      if (overBudget()) break;
      // Settings of a part that is left out, or of repeats the data lacks, change nothing.
      if (knob.longTerm && !(best.longTerm.blend > 0)) continue;
      if (knob.repeats && !hasRepeats) continue;
      for (const value of knob.values) {
        if (value === knob.get(best) || overBudget()) continue;
        const candidate = knob.set(best, value);
        const result = evaluate(candidate);
        if (significantlyBetter(result.perCase, bestResult.perCase, z)) {
          best = candidate;
          bestResult = result;
          changed = true;
          log(`tuning: ${knob.name}=${value} -> ${describe(result.metrics)} (${trials} trials, ${((performance.now() - started) / 1000).toFixed(0)} s)`);
        }
      }
    }
    if (!changed) break;
  }
  if (overBudget()) log(`tuning: budget of ${(options.budgetMs / 1000).toFixed(0)} s spent`);
  return { settings: best, metrics: bestResult.metrics, trials };
}

// ---------------------------------------------------------------------------------------------
// Embedding blend

export interface BlendChoice {
  /** null: no embedding part. */
  fusion: Fusion | null;
  metrics: Record<string, number>;
  /** Objective of each fusion tried. */
  tried: Record<string, number>;
}

/** Linear blend weights tried for the embedding part. */
export const BLEND_WEIGHTS = [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1, 3];
/** Log fusions tried: scale * ln(epsilon + neighbour score) + embedding score. */
export const LOG_FUSION_SCALES = [0.5, 1, 2, 4];
export const LOG_FUSION_EPSILON = 0.01;

export function describeFusion(fusion: Fusion | null): string {
  if (fusion === null) return 'none';
  return fusion.kind === 'linear' ? `linear ${fusion.weight}` : `log ${fusion.scale} (epsilon ${fusion.epsilon})`;
}

/** Picks how to blend the embedding part in (or not) on validation cases, with the twin. */
export function chooseBlend(model: ItemItemModel, embedding: EmbeddingModel, cases: EncodedCases, protocol: Protocol): BlendChoice {
  const spec = tuningSpec(protocol);
  const fusions: (Fusion | null)[] = [
    null,
    ...BLEND_WEIGHTS.map((weight): Fusion => ({ kind: 'linear', weight })),
    ...LOG_FUSION_SCALES.map((scale): Fusion => ({ kind: 'log', epsilon: LOG_FUSION_EPSILON, scale })),
  ];
  const accumulators = fusions.map(() => new MetricAccumulator({ ...spec, coverage: [] }));
  const n = model.itemCount;
  const L = cases.historyLength;
  const base = new Float32Array(n);
  const emb = new Float32Array(n);
  const mixed = new Float32Array(n);
  const unit = { dim: embedding.dim, input: embedding.input, output: embedding.output };
  for (let c = 0; c < cases.count; c++) {
    const idx = cases.indices.subarray(c * L, (c + 1) * L);
    const w = cases.weights.subarray(c * L, (c + 1) * L);
    scoreAll(model, idx, w, base);
    emb.set(embedding.bias);
    addEmbeddingScores(unit, n, idx, w, emb);
    fusions.forEach((fusion, x) => {
      if (fusion === null) mixed.set(base);
      else if (fusion.kind === 'linear') for (let j = 0; j < n; j++) mixed[j] = base[j] + fusion.weight * emb[j];
      else for (let j = 0; j < n; j++) mixed[j] = fusion.scale * Math.log(fusion.epsilon + base[j]) + emb[j];
      accumulators[x].add(rankInScores(mixed, cases, c));
    });
  }
  const tried: Record<string, number> = {};
  let bestAt = 0;
  let best = -Infinity;
  fusions.forEach((fusion, x) => {
    const objective = objectiveOf(protocol, accumulators[x].result());
    tried[describeFusion(fusion)] = objective;
    if (objective > best + 1e-9) {
      best = objective;
      bestAt = x;
    }
  });
  return { fusion: fusions[bestAt], metrics: accumulators[bestAt].result(), tried };
}

// ---------------------------------------------------------------------------------------------
// The pipeline: tune, train, (blend), evaluate

export interface PipelineOptions {
  protocol: Protocol;
  tuneHalfLife: boolean;
  /** Whole-run budget; tuning and embedding training take shares of it. */
  budgetMs?: number;
  /** false: item-item only. */
  embeddings?: boolean;
  embeddingParams?: Partial<EmbeddingParams>;
  /** Cap on validation cases per fold while tuning. */
  maxTuningCases?: number;
  base?: ReducerConfig;
  log?: Log;
}

export interface TrainedModel {
  model: ItemItemModel;
  reducer: ReducerConfig;
  historyLength: number;
  settings: TunedSettings;
  blend: BlendChoice | null;
  /** Twin metrics on the validation cases used for tuning. */
  tuningMetrics: Record<string, number>;
  embedding: EmbeddingModel | null;
  /** The same settings fitted on the tuning data only (the model validation metrics describe). */
  validationModel: ItemItemModel;
  trials: number;
  seconds: number;
}

/** Bundle metadata for a trained model: L, its reducer settings and how it was tuned. */
export function bundleMeta(trained: TrainedModel, metrics: Record<string, number> = {}): BundleMeta {
  return {
    historyLength: trained.historyLength,
    reducer: reducerOverrides(trained.reducer),
    metrics,
    parameters: {
      historyLength: trained.historyLength,
      'reducer.positionDecay': trained.reducer.positionDecay,
      'reducer.halfLifeMs': trained.reducer.halfLifeMs,
      tuningTrials: trained.trials,
    },
  };
}

/** Tuning and training stay within this (reading the data and the final scoring come on top). */
export const DEFAULT_BUDGET_MS = 240_000;
/** Validation cases per fold while tuning (a deterministic sample beyond that). */
export const DEFAULT_TUNING_CASES = 10_000;

/**
 * Tunes on `folds`; when enabled, trains embeddings on `blendFold.data` and picks how to blend
 * them in on `blendFold.groups` (validation cases whose targets that data does not contain);
 * then fits the final model on `finalData` (embeddings retrained on it, for as many epochs, when
 * it is not `blendFold.data`).
 */
export function trainPipeline(
  folds: readonly TuningFold[],
  blendFold: TuningFold,
  finalData: PreparedData,
  options: PipelineOptions,
): TrainedModel {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const budget = options.budgetMs ?? DEFAULT_BUDGET_MS;
  const base = options.base ?? defaultReducerConfig;
  const withEmbeddings = options.embeddings ?? true;
  const tuned = tuneItemItem(folds, {
    protocol: options.protocol,
    tuneHalfLife: options.tuneHalfLife,
    budgetMs: budget * (withEmbeddings ? 0.4 : 0.7),
    base,
    log,
  });
  const { settings } = tuned;
  const reducer = reducerFor(base, settings);
  log(`tuned in ${((performance.now() - started) / 1000).toFixed(1)} s (${tuned.trials} trials): ${describeSettings(settings)}`);
  let blend: BlendChoice | null = null;
  let embedding: EmbeddingModel | null = null;
  let validationModel = fitTuned(blendFold.data, settings);
  const shapeOf = (data: PreparedData): EncodingShape => ({
    historyLength: settings.historyLength,
    config: reducer,
    items: data.items,
    indexOf: data.indexOf,
    eventTypes: data.eventTypes,
  });
  const retrain = blendFold.data !== finalData;
  if (withEmbeddings && blendFold.groups.length > 0) {
    const examples = buildExamples(blendFold.data, shapeOf(blendFold.data));
    // Until 85% of the budget (the rest is for scoring), halved when a retrain on the final data follows.
    const left = budget * 0.85 - (performance.now() - started);
    const deadline = performance.now() + Math.max(5_000, retrain ? left / 2 : left);
    log(`embeddings: ${examples.count} examples, training for at most ${((deadline - performance.now()) / 1000).toFixed(0)} s`);
    embedding = trainEmbeddings(examples, blendFold.data.items.length, options.embeddingParams, {
      deadline,
      onEpoch: (epoch, loss, m) => log(`embeddings: epoch ${epoch + 1} loss ${loss.toFixed(4)} (${m.trainingSeconds.toFixed(0)} s)`),
    });
    const cases = encodeCases(
      sample(blendFold.groups, Math.min(4000, options.maxTuningCases ?? DEFAULT_TUNING_CASES)),
      reducer,
      settings.historyLength,
      blendFold.data.indexOf,
      blendFold.data.items.length,
      options.protocol === 'leave-one-out',
    );
    blend = chooseBlend(validationModel, embedding, cases, options.protocol);
    if (blend.fusion !== null) validationModel = blendEmbedding(validationModel, embedding, blend.fusion);
    log(`embeddings: blend ${describeFusion(blend.fusion)} (objective by blend: ${Object.entries(blend.tried).map(([w, o]) => `${w}: ${o.toFixed(4)}`).join(', ')})`);
    if (blend.fusion !== null && retrain) {
      const epochs = embedding.epochsRun;
      log(`embeddings: retraining on all ${finalData.interactions} interactions for ${epochs} epochs`);
      embedding = trainEmbeddings(buildExamples(finalData, shapeOf(finalData)), finalData.items.length, { ...options.embeddingParams, epochs }, {
        onEpoch: (epoch, loss, m) => log(`embeddings: epoch ${epoch + 1} loss ${loss.toFixed(4)} (${m.trainingSeconds.toFixed(0)} s)`),
      });
    }
  }
  let model = retrain ? fitTuned(finalData, settings) : validationModel;
  if (retrain && blend !== null && blend.fusion !== null && embedding !== null) model = blendEmbedding(model, embedding, blend.fusion);
  model = { ...model, stats: { ...model.stats, trainingSeconds: (performance.now() - started) / 1000 } };
  return {
    model,
    reducer,
    historyLength: settings.historyLength,
    settings,
    blend,
    tuningMetrics: tuned.metrics,
    embedding,
    validationModel,
    trials: tuned.trials,
    seconds: (performance.now() - started) / 1000,
  };
}

export function describeSettings(s: TunedSettings): string {
  const p = s.params;
  return (
    `positionDecay ${s.positionDecay}, halfLife ${s.halfLifeMs} ms, L ${s.historyLength}, window ${p.window}, decay ${p.decay}, ` +
    `backward ${p.backwardWeight}, alpha ${p.alpha}, beta ${p.beta}, k ${p.neighbours}, prior ${p.popularityBlend}, recency ${p.recencyDecay}` +
    (s.longTerm.blend > 0
      ? `; long-term blend ${s.longTerm.blend}, exponent ${s.longTerm.exponent}, window ${s.longTerm.params.window}, ` +
        `alpha ${s.longTerm.params.alpha}, beta ${s.longTerm.params.beta}, k ${s.longTerm.params.neighbours}`
      : '; no long-term part')
  );
}

/** Writes the model to a temporary bundle, loads it with Scorer, runs `use`, cleans up. */
export async function withScorer<T>(trained: TrainedModel, use: (scorer: Scorer) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'attune-eval-'));
  try {
    await writeBundle(dir, trained.model, bundleMeta(trained));
    const scorer = await Scorer.load(dir, { timeoutMs: 600_000, maxBatch: 64, intraOpThreads: 1 });
    try {
      return await use(scorer);
    } finally {
      await scorer.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The leave-one-out tuning fold: a model trained on all but each user's last two items, scored
 * on the validation target (the second-to-last item, history: all before it), at most
 * `maxCases` users. The test target is never used.
 */
export function leaveOneOutFold(histories: readonly UserHistory[], catalog: readonly string[], maxCases: number, data?: PreparedData): TuningFold {
  return {
    data: data ?? prepareInteractions(trainingPart(histories, 2), catalog),
    groups: sample(leaveOneOutGroups(histories, 2), maxCases),
  };
}

/**
 * Session tuning split: the latest `share` of sessions (by their first event) validate, the
 * rest train. Returns the fold and the training sessions.
 */
export function sessionFold(histories: readonly UserHistory[], catalog: readonly string[], share: number, maxCases: number): TuningFold {
  const byStart = [...histories].sort(
    (a, b) => (a.events[0]?.timestamp ?? 0) - (b.events[0]?.timestamp ?? 0) || compareIds(a.userId, b.userId),
  );
  const cut = Math.max(1, Math.min(byStart.length - 1, Math.round(byStart.length * (1 - share))));
  const train = byStart.slice(0, cut);
  const validation = byStart.slice(cut);
  let groups = sessionGroups(validation);
  // Cap by sessions, keeping whole sessions.
  while (caseCount(groups) > maxCases && groups.length > 1) groups = sample(groups, Math.floor(groups.length * 0.8));
  return { data: prepareInteractions(train.flatMap((h) => h.events), catalog), groups };
}

export { userHistories };

// ---------------------------------------------------------------------------------------------
// Reports

export interface LeaveOneOutReport {
  dataset: string;
  users: number;
  items: number;
  interactions: number;
  /** Tuning and training, seconds. */
  trainSeconds: number;
  /** Serving-path scoring of validation and test cases, seconds. */
  evaluateSeconds: number;
  /** Test target, serving path. */
  metrics: Record<string, number>;
  /** Validation target, serving path (the model that was tuned on it). */
  validation: Record<string, number>;
  baseline: { popularity: Record<string, number> };
  algorithm: string;
  parameters: Record<string, number | string>;
  reducer: Partial<ReducerConfig>;
  historyLength: number;
}

export interface EvaluateOptions extends Omit<PipelineOptions, 'protocol'> {
  dataset?: string;
}

function catalogOf(...sets: (readonly Interaction[])[]): string[] {
  const ids = new Set<string>();
  for (const set of sets) for (const { itemId } of set) ids.add(itemId);
  return [...ids].sort(compareIds);
}

function progressLogger(log: Log, what: string): (done: number, total: number) => void {
  let next = 0;
  return (done, total) => {
    if (done >= next || done === total) {
      log(`${what}: ${done}/${total} cases`);
      next = done + Math.max(1, Math.ceil(total / 5));
    }
  };
}

/** The leave-one-out protocol end to end: tune, train, score validation and test through the serving path. */
export async function evaluateLeaveOneOut(interactions: readonly Interaction[], options: EvaluateOptions = { tuneHalfLife: false }): Promise<LeaveOneOutReport> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const histories = userHistories(interactions);
  const catalog = catalogOf(interactions);
  const maxCases = options.maxTuningCases ?? DEFAULT_TUNING_CASES;
  log(`${histories.length} users, ${catalog.length} items, ${interactions.length} interactions`);
  const finalData = prepareInteractions(trainingPart(histories, 2), catalog);
  const folds = [leaveOneOutFold(histories, catalog, maxCases, finalData)];
  const validationGroups = leaveOneOutGroups(histories, 2);
  const testGroups = leaveOneOutGroups(histories, 1);
  const trained = trainPipeline(folds, { data: finalData, groups: validationGroups }, finalData, { ...options, protocol: 'leave-one-out' });
  const trainSeconds = (performance.now() - started) / 1000;
  const evaluateStarted = performance.now();
  const spec = LEAVE_ONE_OUT_METRICS;
  const { validation, metrics } = await withScorer(trained, async (scorer) => ({
    validation: await metricsWithScorer(scorer, validationGroups, trained.reducer, spec, true, catalog.length, progressLogger(log, 'validation')),
    metrics: await metricsWithScorer(scorer, testGroups, trained.reducer, spec, true, catalog.length, progressLogger(log, 'test')),
  }));
  const popularity = popularityMetrics(popularityOrder(trainingPart(histories, 2), catalog), testGroups, spec, true, catalog.length);
  const meta = bundleMeta(trained);
  return {
    dataset: options.dataset ?? 'data',
    users: histories.length,
    items: catalog.length,
    interactions: interactions.length,
    trainSeconds,
    evaluateSeconds: (performance.now() - evaluateStarted) / 1000,
    metrics,
    validation,
    baseline: { popularity },
    algorithm: trained.model.embedding ? 'item-item-emb' : 'item-item',
    parameters: { ...flatParameters(trained), ...meta.parameters },
    reducer: reducerOverrides(trained.reducer),
    historyLength: trained.historyLength,
  };
}

function flatParameters(trained: TrainedModel): Record<string, number | string> {
  const { eventWeights, ...scalars } = trained.settings.params;
  const out: Record<string, number | string> = { ...scalars };
  for (const [type, weight] of Object.entries(eventWeights)) out[`eventWeight.${type}`] = weight;
  for (const [name, value] of Object.entries(trained.model.embeddingParams ?? {})) out[`embedding.${name}`] = value;
  return out;
}

export interface TrainForDataOptions extends Omit<PipelineOptions, 'protocol'> {
  protocol: Protocol;
  /** Items with no interactions that the vocabulary must still hold. */
  catalog?: readonly string[];
}

export interface TrainedBundleModel extends TrainedModel {
  /** Validation metrics of the tuned settings (serving path), recorded in the manifest. */
  validation: Record<string, number>;
}

/**
 * `attune train`: tunes on held-out validation cases (leave-one-out: each user's second-to-last
 * item; sessions: the latest 10% of sessions), measures the tuned model on them through the
 * serving path, and returns the model retrained on all the data.
 */
export async function trainForData(interactions: readonly Interaction[], options: TrainForDataOptions): Promise<TrainedBundleModel> {
  const log = options.log ?? (() => {});
  const histories = userHistories(interactions);
  const catalog = catalogOf(interactions).concat((options.catalog ?? []).filter((id) => !catalogSet(interactions).has(id)));
  catalog.sort(compareIds);
  const maxCases = options.maxTuningCases ?? DEFAULT_TUNING_CASES;
  const allData = prepareInteractions(interactions, catalog);
  let folds: TuningFold[];
  let blendFold: TuningFold;
  let spec: MetricSpec;
  if (options.protocol === 'leave-one-out') {
    const fold = leaveOneOutFold(histories, catalog, maxCases);
    folds = [fold];
    blendFold = { data: fold.data, groups: leaveOneOutGroups(histories, 2) };
    spec = LEAVE_ONE_OUT_METRICS;
  } else {
    const fold = sessionFold(histories, catalog, 0.1, maxCases * 4);
    folds = [fold];
    blendFold = fold;
    spec = SESSION_METRICS;
  }
  const trained = trainPipeline(folds, blendFold, allData, { ...options });
  const validation = await withScorer({ ...trained, model: trained.validationModel }, (scorer) =>
    metricsWithScorer(scorer, blendFold.groups, trained.reducer, spec, options.protocol === 'leave-one-out', catalog.length, progressLogger(log, 'validation')),
  );
  return { ...trained, validation };
}

function catalogSet(interactions: readonly Interaction[]): Set<string> {
  return new Set(interactions.map((x) => x.itemId));
}

// ---------------------------------------------------------------------------------------------
// Session protocol report (rsc15)

export interface NamedReference {
  name: string;
  rows: readonly ReferenceRow[];
}

export interface SessionReport {
  dataset: string;
  trainSessions: number;
  testSessions: number;
  items: number;
  /** Next-click cases of the test sessions. */
  cases: number;
  trainSeconds: number;
  evaluateSeconds: number;
  /** Ours, every test case, serving path. */
  metrics: Record<string, number>;
  /** Tuning metrics (twin) on the latest 10% of training sessions. */
  validation: Record<string, number>;
  baseline: { popularity: Record<string, number> };
  /**
   * Each reference list scored on the cases it covers, beside ours on exactly those cases (the
   * reference files cover a subset of the test sessions).
   */
  references: Record<string, { cases: number; unmatched: number; metrics: Record<string, number>; ours: Record<string, number> }>;
  /** Ours on the cases every reference list covers. */
  oursOnSharedCases: { cases: number; metrics: Record<string, number> };
  algorithm: string;
  parameters: Record<string, number | string>;
  reducer: Partial<ReducerConfig>;
  historyLength: number;
}

/**
 * session-rec's protocol: train on `train`; for every test session and every click p but the
 * last, predict click p + 1 from clicks 1..p; HR@20 and MRR@20 over all those cases, history
 * items not excluded (session-rec's convention for rsc15). Reference lists are scored the same way.
 */
export async function evaluateSessionsReport(
  train: readonly Interaction[],
  test: readonly Interaction[],
  references: readonly NamedReference[],
  options: EvaluateOptions,
): Promise<SessionReport> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const trainHistories = userHistories(train);
  const testHistories = userHistories(test);
  const catalog = catalogOf(train, test);
  log(`${trainHistories.length} training sessions, ${testHistories.length} test sessions, ${catalog.length} items`);
  const fold = sessionFold(trainHistories, catalog, 0.1, (options.maxTuningCases ?? DEFAULT_TUNING_CASES) * 2);
  const finalData = prepareInteractions(train, catalog);
  const trained = trainPipeline([fold], fold, finalData, { ...options, protocol: 'sessions' });
  const trainSeconds = (performance.now() - started) / 1000;
  const evaluateStarted = performance.now();
  const groups = sessionGroups(testHistories);
  const sessions = new Map(testHistories.map((h) => [h.userId, h.events] as const));
  const scoredRefs = references.map((ref) => ({ name: ref.name, score: scoreReferenceRows(ref.rows, sessions) }));
  const shared = scoredRefs.length === 0 ? new Set<string>() : new Set([...scoredRefs[0].score.keys].filter((k) => scoredRefs.every((r) => r.score.keys.has(k))));

  const spec = SESSION_METRICS;
  const all = new MetricAccumulator(spec, catalog.length);
  const perRef = scoredRefs.map(() => new MetricAccumulator(spec, catalog.length));
  const onShared = new MetricAccumulator(spec, catalog.length);
  const keyOf = groups.flatMap((g) => g.prefixes.map((p) => caseKey(g.userId, p)));
  let c = 0;
  await withScorer(trained, (scorer) =>
    scoreWithScorer(scorer, groups, trained.reducer, { listLength: deepestK(spec), exclude: false, onProgress: progressLogger(log, 'test') }, (list, target) => {
      const rank = rankOf(list, target);
      const key = keyOf[c++];
      all.add(rank, list);
      scoredRefs.forEach((ref, r) => {
        if (ref.score.keys.has(key)) perRef[r].add(rank, list);
      });
      if (shared.has(key)) onShared.add(rank, list);
    }),
  );
  const popularity = popularityMetrics(popularityOrder(train, catalog), groups, spec, false, catalog.length);
  const meta = bundleMeta(trained);
  return {
    dataset: options.dataset ?? 'sessions',
    trainSessions: trainHistories.length,
    testSessions: testHistories.length,
    items: catalog.length,
    cases: caseCount(groups),
    trainSeconds,
    evaluateSeconds: (performance.now() - evaluateStarted) / 1000,
    metrics: all.result(),
    validation: trained.tuningMetrics,
    baseline: { popularity },
    references: Object.fromEntries(
      scoredRefs.map((ref, r) => [
        ref.name,
        { cases: ref.score.cases, unmatched: ref.score.unmatched, metrics: ref.score.metrics, ours: perRef[r].result() },
      ]),
    ),
    oursOnSharedCases: { cases: onShared.count, metrics: onShared.result() },
    algorithm: trained.model.embedding ? 'item-item-emb' : 'item-item',
    parameters: { ...flatParameters(trained), ...meta.parameters },
    reducer: reducerOverrides(trained.reducer),
    historyLength: trained.historyLength,
  };
}
