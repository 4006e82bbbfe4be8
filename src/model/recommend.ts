import { randomUUID } from 'node:crypto';
import { itemWeights, type SessionState } from '../actors/state.js';
import type { CatalogIndex } from './catalog.js';
import { buildFilter, defaultFilter, filterTopN, interleavePromoted, promotionFilter, type FilterOptions, type ItemFilter, type Promotion } from './filters.js';
import type { FallbackReason } from './scorer.js';
import type { ModelInput, ScoredItem } from './types.js';

/** What the serving path needs of a loaded model; `Scorer` implements it. */
export interface ListScorer {
  readonly version: string;
  readonly itemCount: number;
  scoreOrFallback(input: ModelInput, k: number): Promise<{ items: ScoredItem[]; fallback: FallbackReason | null }>;
  popular(k: number): ScoredItem[];
}

export interface RecommendedItem extends ScoredItem {
  promotionName?: string;
}

export interface RecommendationList {
  items: RecommendedItem[];
  recommendationId: string;
  modelVersion: string;
  /** `model` for a personalized list; `popular` for cold start or a fallback. */
  source: 'model' | 'popular';
  fallback: FallbackReason | null;
}

export interface ListOptions {
  filter?: FilterOptions;
  promotion?: Promotion;
}

/** The model's view of a state: its decayed item weights. Shared by serving, training and evaluation. */
export function toModelInput(state: SessionState): ModelInput {
  const weights = itemWeights(state);
  return { itemIds: weights.map(([id]) => id), weights: weights.map(([, w]) => w) };
}

/** Scores a state (null: no history) into a filtered top-n list. */
export async function recommendForState(
  scorer: ListScorer,
  catalog: CatalogIndex,
  state: SessionState | null,
  n: number,
  options: ListOptions = {},
): Promise<RecommendationList> {
  const coldStart = state === null || state.itemSums.length === 0;
  return rankedList(scorer, coldStart ? null : toModelInput(state), buildFilter(catalog, state, options.filter ?? defaultFilter), n, catalog, options.promotion);
}

/** "More like this": the neighbours of one item, as if it were the whole history. */
export async function relatedItems(
  scorer: ListScorer,
  catalog: CatalogIndex,
  itemId: string,
  state: SessionState | null,
  n: number,
  options: ListOptions = {},
): Promise<RecommendationList> {
  const filter = options.filter ?? defaultFilter;
  const withoutItself = { ...filter, excludeItems: [...filter.excludeItems, itemId] };
  return rankedList(scorer, { itemIds: [itemId], weights: [1] }, buildFilter(catalog, state, withoutItself), n, catalog, options.promotion);
}

/**
 * Orders a caller's list by this state's scores. Items the model does not know keep their
 * input order after the known ones; filtered items are dropped.
 */
export async function rankItems(
  scorer: ListScorer,
  catalog: CatalogIndex,
  state: SessionState | null,
  inputList: readonly string[],
  n: number,
  filter: FilterOptions,
): Promise<RecommendationList> {
  const allowed = buildFilter(catalog, state, filter);
  const coldStart = state === null || state.itemSums.length === 0;
  const scored = coldStart ? { items: scorer.popular(scorer.itemCount), fallback: null } : await scorer.scoreOrFallback(toModelInput(state), scorer.itemCount);
  const scoreOf = new Map(scored.items.map((i) => [i.itemId, i.score]));
  const unique = [...new Set(inputList)].filter((id) => allowed.allows(id));
  const known = unique.filter((id) => scoreOf.has(id)).sort((a, b) => (scoreOf.get(b) ?? 0) - (scoreOf.get(a) ?? 0));
  const unknown = unique.filter((id) => !scoreOf.has(id));
  return {
    items: [...known.map((itemId) => ({ itemId, score: scoreOf.get(itemId) ?? 0 })), ...unknown.map((itemId) => ({ itemId, score: 0 }))].slice(0, n),
    recommendationId: randomUUID(),
    modelVersion: scorer.version,
    source: coldStart || scored.fallback !== null ? 'popular' : 'model',
    fallback: scored.fallback,
  };
}

async function rankedList(
  scorer: ListScorer,
  input: ModelInput | null,
  filter: ItemFilter,
  n: number,
  catalog: CatalogIndex,
  promotion: Promotion | undefined,
): Promise<RecommendationList> {
  const score = (k: number) => (input === null ? Promise.resolve({ items: scorer.popular(k), fallback: null }) : scorer.scoreOrFallback(input, k));
  // Enough candidates that n survive the filter when its exclusions are countable; else the
  // whole catalog, asked for only when the first round comes up short.
  let k = Math.min(scorer.itemCount, filter.maxExcluded === null ? n * 4 : n + filter.maxExcluded);
  let scored = await score(k);
  const promoted = promotion === undefined ? 0 : Math.min(n, Math.round(n * promotion.share));
  const shortOf = (items: readonly ScoredItem[]) =>
    filterTopN(items, n, filter).length < n || (promotion !== undefined && filterTopN(items, promoted, promotionFilter(catalog, filter, promotion)).length < promoted);
  if (k < scorer.itemCount && shortOf(scored.items)) {
    k = scorer.itemCount;
    scored = await score(k);
  }
  let items: RecommendedItem[];
  if (promotion === undefined || promoted === 0) {
    items = filterTopN(scored.items, n, filter);
  } else {
    const picks = filterTopN(scored.items, promoted, promotionFilter(catalog, filter, promotion));
    const picked = new Set(picks.map((p) => p.itemId));
    const regular = filterTopN(scored.items, n - picks.length, { allows: (id) => filter.allows(id) && !picked.has(id), maxExcluded: null });
    items = interleavePromoted<RecommendedItem>(regular, picks.map((p) => ({ ...p, promotionName: promotion.name })), n);
  }
  return {
    items,
    recommendationId: randomUUID(),
    modelVersion: scorer.version,
    source: input === null || scored.fallback !== null ? 'popular' : 'model',
    fallback: scored.fallback,
  };
}
