import type { ReducerConfig } from '../session/state.js';
import type { ManifestLineage } from './lineage.js';

/** One interaction used for training: what a user did with an item, when. */
export interface Interaction {
  userId: string;
  itemId: string;
  /** Epoch milliseconds; orders a user's sequence. */
  timestamp: number;
  eventType: string;
  eventValue?: number;
}

/**
 * What the model sees of a session: the items of its rolling state and how much each counts now.
 * Produced from the session state by `toModelInput` (src/model/recommend.ts), so training, evaluation and serving
 * share one encoding.
 */
export interface ModelInput {
  itemIds: readonly string[];
  weights: readonly number[];
}

export interface ScoredItem {
  itemId: string;
  score: number;
}

/** The input/output contract every model.onnx of a bundle honours (see README "Bring your own model"). */
export const MODEL_CONTRACT = {
  inputs: {
    /** int64 [B, L]: item indices into the bundle vocabulary; padding uses index == itemCount. */
    items: 'items',
    /** float32 [B, L]: weight of each item (0 for padding). */
    weights: 'weights',
    /** int64 [1]: how many top items to return (<= itemCount). */
    k: 'k',
  },
  outputs: {
    /** float32 [B, K], descending. */
    scores: 'top_scores',
    /** int64 [B, K]: item indices. */
    indices: 'top_indices',
  },
} as const;

export interface ModelManifest {
  format: 'attune-bundle/1';
  version: string;
  createdAt: string;
  algorithm: string;
  parameters: Record<string, number | string>;
  trainingDataHash: string;
  trainingSeconds: number;
  itemCount: number;
  /** L: the number of (item, weight) slots the model reads per row. */
  historyLength: number;
  interactions: number;
  users: number;
  metrics: Record<string, number>;
  contract: typeof MODEL_CONTRACT;
  /**
   * How the serving reducer must build the state this model was trained and evaluated on
   * (half-life, position decay, event weights...). Absent fields use the server's defaults.
   */
  reducer?: Partial<ReducerConfig>;
  /** What it was trained from (training window, rows, parent version); absent in older bundles. */
  lineage?: ManifestLineage;
}
