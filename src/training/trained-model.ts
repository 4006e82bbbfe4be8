import type { ReducerConfig } from '../session/state.js';
import type { ItemItemModel } from '../model/item-item.js';
import type { BundleMeta } from './bundle-writer.js';
import type { EmbeddingModel } from './embeddings.js';
import type { BlendChoice } from './embedding-blend.js';
import type { TunedSettings } from './tuning.js';

/** What the training pipeline returns: the model, the settings it was tuned to and how. */
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

/** The reducer settings a bundle records: everything that shapes the model's input. */
function reducerOverrides(config: ReducerConfig): Partial<ReducerConfig> {
  return {
    halfLifeMs: config.halfLifeMs,
    positionDecay: config.positionDecay,
    itemWeightsMax: config.itemWeightsMax,
    eventWeights: { ...config.eventWeights },
    defaultEventWeight: config.defaultEventWeight,
  };
}

/** The trained model as a report names it. */
export interface ModelDescription {
  algorithm: string;
  /** The trainer's parameters, flat, and how they were tuned (the bundle's extra parameters). */
  parameters: Record<string, number | string>;
  reducer: Partial<ReducerConfig>;
  historyLength: number;
}

export function describeModel(trained: TrainedModel): ModelDescription {
  return {
    algorithm: trained.model.embedding ? 'item-item-emb' : 'item-item',
    parameters: { ...flatParameters(trained), ...bundleMeta(trained).parameters },
    reducer: reducerOverrides(trained.reducer),
    historyLength: trained.historyLength,
  };
}

/** The trainer's parameters of a trained model, flat. */
function flatParameters(trained: TrainedModel): Record<string, number | string> {
  const { eventWeights, ...scalars } = trained.settings.params;
  const out: Record<string, number | string> = { ...scalars };
  for (const [type, weight] of Object.entries(eventWeights)) out[`eventWeight.${type}`] = weight;
  for (const [name, value] of Object.entries(trained.model.embeddingParams ?? {})) out[`embedding.${name}`] = value;
  return out;
}
