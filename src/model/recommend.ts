import { randomUUID } from 'node:crypto';
import { itemWeights, type SessionState } from '../session/state.js';
import type { CatalogIndex } from './catalog.js';
import {
  buildFilter,
  defaultFilter,
  filterTopN,
  interleavePromoted,
  promotionFilter,
  withPredicate,
  type FilterOptions,
  type ItemFilter,
  type ItemPredicate,
  type Promotion,
} from './filters.js';
import type { FallbackReason } from './scorer.js';
import type { ModelInput, ScoredItem } from './types.js';

/** What the serving path needs of a loaded model; `Scorer` implements it. */
export interface ListScorer {
  readonly version: string;
  readonly itemCount: number;
  scoreOrFallback(input: ModelInput, k: number): Promise<{ items: ScoredItem[]; fallback: FallbackReason | null }>;
  popular(k: number): ScoredItem[];
  /**
   * When set, gives some of a finished list's slots to items the scorer cannot rank yet
   * (exploration, src/model/live-scorer.ts); `input` is what the list was scored for (null:
   * popular items), `allows` the list's filter.
   */
  explore?(items: readonly RecommendedItem[], n: number, input: ModelInput | null, allows: (itemId: string) => boolean): RecommendedItem[];
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
  /** AND-ed into the filter: only items it returns true for are listed (promoted ones included). */
  allow?: ItemPredicate;
  /**
   * 0..1: an item the state has as shown `count` times without engagement scores
   * `impressionPenalty^count` times as much, in lists built for a state; IMPRESSION_PENALTY by default.
   * 1 turns the demotion off.
   */
  impressionPenalty?: number;
}

/** The model's view of a state: its decayed item weights. Shared by serving, training and evaluation. */
export function toModelInput(state: SessionState): ModelInput {
  const weights = itemWeights(state);
  return { itemIds: weights.map(([id]) => id), weights: weights.map(([, w]) => w) };
}

/**
 * How much an impression without engagement weighs on an item's score: each one halves it. One
 * value for every list (live pushes, GETs, replays), so a replay reproduces what was pushed.
 */
export const IMPRESSION_PENALTY = 0.5;

/** Scores a state (null: no history) into a filtered top-n list. */
export async function recommendForState(
  scorer: ListScorer,
  catalog: CatalogIndex,
  state: SessionState | null,
  n: number,
  options: ListOptions = {},
): Promise<RecommendationList> {
  const coldStart = state === null || state.itemSums.length === 0;
  const filter = withPredicate(buildFilter(catalog, state, options.filter ?? defaultFilter), options.allow);
  return rankedList(scorer, coldStart ? null : toModelInput(state), filter, n, catalog, options.promotion, impressionFactors(state, options.impressionPenalty));
}

/**
 * "More like this": the neighbours of one item, as if it were the whole history. A state, when
 * given, filters (purchased, seen) and demotes its impressed items.
 */
export async function relatedItems(
  scorer: ListScorer,
  catalog: CatalogIndex,
  itemId: string,
  state: SessionState | null,
  n: number,
  options: ListOptions = {},
): Promise<RecommendationList> {
  const filter = options.filter ?? defaultFilter;
  const withoutItself = withPredicate(buildFilter(catalog, state, { ...filter, excludeItems: [...filter.excludeItems, itemId] }), options.allow);
  return rankedList(scorer, { itemIds: [itemId], weights: [1] }, withoutItself, n, catalog, options.promotion, impressionFactors(state, options.impressionPenalty));
}

/**
 * Orders a caller's list by this state's scores, its impressed items demoted. Items the model
 * does not know keep their input order after the known ones; filtered items (and those
 * `allow` refuses) are dropped. `impressionPenalty` as in `ListOptions`.
 */
export async function rankItems(
  scorer: ListScorer,
  catalog: CatalogIndex,
  state: SessionState | null,
  inputList: readonly string[],
  n: number,
  filter: FilterOptions,
  allow?: ItemPredicate,
  impressionPenalty?: number,
): Promise<RecommendationList> {
  const allowed = withPredicate(buildFilter(catalog, state, filter), allow);
  const coldStart = state === null || state.itemSums.length === 0;
  const scored = coldStart ? { items: scorer.popular(scorer.itemCount), fallback: null } : await scorer.scoreOrFallback(toModelInput(state), scorer.itemCount);
  const scoreOf = new Map(demote(scored.items, impressionFactors(state, impressionPenalty)).map((i) => [i.itemId, i.score]));
  const unique = [...new Set(inputList)].filter((id) => allowed.allows(id));
  const known = unique.filter((id) => scoreOf.has(id)).sort((a, b) => (scoreOf.get(b) ?? 0) - (scoreOf.get(a) ?? 0));
  const unknown = unique.filter((id) => !scoreOf.has(id));
  const ranked = [...known.map((itemId) => ({ itemId, score: scoreOf.get(itemId) ?? 0 })), ...unknown.map((itemId) => ({ itemId, score: 0 }))].slice(0, n);
  return {
    items: relativeToBest(ranked, scored.items[0]?.score),
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
  factors: ImpressionFactors | null,
): Promise<RecommendationList> {
  const score = (k: number) => (input === null ? Promise.resolve({ items: scorer.popular(k), fallback: null }) : scorer.scoreOrFallback(input, k));
  // Enough candidates that n survive the filter when its exclusions are countable, plus every
  // impressed item, which demotion may push below them; else the whole catalog, asked for only
  // when the first round comes up short.
  let k = Math.min(scorer.itemCount, (filter.maxExcluded === null ? n * 4 : n + filter.maxExcluded) + (factors?.size ?? 0));
  let scored = await score(k);
  let ranked = demote(scored.items, factors);
  const promoted = promotion === undefined ? 0 : Math.min(n, Math.round(n * promotion.share));
  const settled = (items: readonly ScoredItem[], count: number, allowed: ItemFilter) => {
    const top = filterTopN(items, count, allowed);
    // A demoted item ranks above items not asked for only if it still scores at least the lowest asked-for one.
    return top.length === count && (factors === null || count === 0 || (top.at(-1)?.score ?? -Infinity) >= lowestScore(scored.items));
  };
  const shortOf = (items: readonly ScoredItem[]) =>
    !settled(items, n, filter) || (promotion !== undefined && !settled(items, promoted, promotionFilter(catalog, filter, promotion)));
  if (k < scorer.itemCount && shortOf(ranked)) {
    k = scorer.itemCount;
    scored = await score(k);
    ranked = demote(scored.items, factors);
  }
  let items: RecommendedItem[];
  if (promotion === undefined || promoted === 0) {
    items = filterTopN(ranked, n, filter);
  } else {
    const picks = filterTopN(ranked, promoted, promotionFilter(catalog, filter, promotion));
    const picked = new Set(picks.map((p) => p.itemId));
    const regular = filterTopN(ranked, n - picks.length, { allows: (id) => filter.allows(id) && !picked.has(id), maxExcluded: null });
    items = interleavePromoted<RecommendedItem>(regular, picks.map((p) => ({ ...p, promotionName: promotion.name })), n);
  }
  if (scorer.explore !== undefined) items = scorer.explore(items, n, input, (id) => filter.allows(id));
  return {
    items: relativeToBest(items, scored.items[0]?.score),
    recommendationId: randomUUID(),
    modelVersion: scorer.version,
    source: input === null || scored.fallback !== null ? 'popular' : 'model',
    fallback: scored.fallback,
  };
}

/**
 * Every list's `score` on one scale: a share of the best score its source gave any candidate
 * (the model's best item, or the most popular one), so that item scores 1 whatever the filters
 * left. Order is unchanged. Where the source scores nothing above 0 (a model that found no
 * neighbours), scores stay as it gave them; a model may score items below 0 (embeddings), and
 * those stay below 0.
 */
function relativeToBest<T extends ScoredItem>(items: readonly T[], best: number | undefined): T[] {
  if (best === undefined || !(best > 0)) return [...items];
  return items.map((item) => ({ ...item, score: item.score / best }));
}

/** Per impressed item, the factor its score is multiplied by; null when nothing is demoted. */
type ImpressionFactors = ReadonlyMap<string, number>;

function impressionFactors(state: SessionState | null, penalty: number = IMPRESSION_PENALTY): ImpressionFactors | null {
  if (state === null || state.impressions.length === 0 || penalty === 1) return null;
  return new Map(state.impressions.map(([itemId, count]) => [itemId, Math.pow(penalty, count)]));
}

/**
 * The candidates with impressed items' scores multiplied by their factors, re-sorted (stably:
 * ties keep the model's order). A negative score moves down by as much as a positive one of the
 * same size would, (1 - factor)·|score|, so a demotion never raises an item.
 */
function demote(items: readonly ScoredItem[], factors: ImpressionFactors | null): readonly ScoredItem[] {
  if (factors === null) return items;
  let changed = false;
  const adjusted = items.map((item) => {
    const factor = factors.get(item.itemId);
    if (factor === undefined) return item;
    changed = true;
    return { itemId: item.itemId, score: item.score >= 0 ? item.score * factor : item.score * (2 - factor) };
  });
  return changed ? adjusted.sort((a, b) => b.score - a.score) : items;
}

function lowestScore(items: readonly ScoredItem[]): number {
  return items.reduce((lowest, item) => Math.min(lowest, item.score), Infinity);
}
