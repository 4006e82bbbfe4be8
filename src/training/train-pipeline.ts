import { performance } from 'node:perf_hooks';
import { defaultReducerConfig, type ReducerConfig } from '../session/state.js';
import { blendEmbedding, buildExamples, trainEmbeddings, type EmbeddingModel, type EmbeddingParams } from './embeddings.js';
import { sample, type Log, type Protocol, type TuningFold } from './eval-cases.js';
import { chooseBlend, describeFusion, type BlendChoice } from './embedding-blend.js';
import type { EncodingShape } from './replay.js';
import type { TrainedModel } from './trained-model.js';
import type { PreparedData } from './trainer.js';
import { describeSettings, fitTuned, reducerFor, tuneItemItem } from './tuning.js';
import { encodeCases } from './twin-scoring.js';

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
