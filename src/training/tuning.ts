import { performance } from 'node:perf_hooks';
import type { ReducerConfig } from '../session/state.js';
import type { ItemItemModel, ItemItemParams } from '../model/item-item.js';
import { caseCount, type Log, type Protocol, type TuningFold } from './eval-cases.js';
import { encodeCases, evaluateTwin, type EncodedCases } from './twin-scoring.js';
import { objectiveOf, significantlyBetter, tuningSpec } from './tuning-objective.js';
import { accumulatePairs, fitItemItem, pairKey, resolveParams, withLongTerm, type PairTable, type PreparedData } from './trainer.js';

// Tuning: coordinate descent over the trainer's parameters and the reducer settings of the model input.

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
