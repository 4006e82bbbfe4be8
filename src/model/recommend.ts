import { randomUUID } from 'node:crypto';
import type { SessionState } from '../actors/state.js';
import type { CatalogIndex } from './catalog.js';
import { candidatesNeeded, exclusionContext, filterTopN } from './filters.js';
import type { FallbackReason } from './scorer.js';
import type { ModelInput, ScoredItem } from './types.js';

/** What the serving path needs of a loaded model; `Scorer` implements it. */
export interface ListScorer {
  readonly version: string;
  readonly itemCount: number;
  scoreOrFallback(input: ModelInput, k: number): Promise<{ items: ScoredItem[]; fallback: FallbackReason | null }>;
  popular(k: number): ScoredItem[];
}

export interface RecommendationList {
  items: ScoredItem[];
  recommendationId: string;
  modelVersion: string;
  /** `model` for a personalized list; `popular` for cold start or a fallback. */
  source: 'model' | 'popular';
  fallback: FallbackReason | null;
}

/** The model's view of a state: its decayed item weights. Shared by serving, training and evaluation. */
export function toModelInput(state: SessionState): ModelInput {
  return { itemIds: state.itemWeights.map(([id]) => id), weights: state.itemWeights.map(([, w]) => w) };
}

/** Scores a state (null: no history) into a filtered top-n list. */
export async function recommendForState(scorer: ListScorer, catalog: CatalogIndex, state: SessionState | null, n: number): Promise<RecommendationList> {
  const exclusions = exclusionContext(catalog, state);
  const k = Math.min(scorer.itemCount, candidatesNeeded(n, exclusions));
  const coldStart = state === null || state.itemWeights.length === 0;
  const scored = coldStart ? { items: scorer.popular(k), fallback: null } : await scorer.scoreOrFallback(toModelInput(state), k);
  return {
    items: filterTopN(scored.items, n, exclusions),
    recommendationId: randomUUID(),
    modelVersion: scorer.version,
    source: coldStart || scored.fallback !== null ? 'popular' : 'model',
    fallback: scored.fallback,
  };
}
