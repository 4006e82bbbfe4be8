import type { CoOccurrenceTable } from './co-occurrence.js';
import type { ContentIndex } from './content-index.js';
import { explorationSlots, POOL_PER_SLOT, withExploration } from './exploration.js';
import { liveScores } from './live-neighbours.js';
import type { ListScorer, RecommendedItem } from './recommend.js';
import type { FallbackReason } from './scorer.js';
import type { ModelInput, ScoredItem } from './types.js';

/** The served model as the live scorer wraps it (interactionCount: see Scorer; absent, no item counts as weakly known). */
export type ModelScorer = ListScorer & { hasItem(itemId: string): boolean; interactionCount?(itemId: string): number };

export interface LiveBlendOptions {
  /** Weight of the live neighbours in the scores of items the model knows (0: the model's scores stay). */
  knownWeight: number;
  /** An item the model was trained on fewer than this many interactions of counts as weakly known: its live score adds in full. 0: none. */
  weakBelow: number;
  /** 0..1: at most this share of a list's slots goes to new or under-exposed items; 0: none. */
  exploreShare: number;
  /** Seeds which items and slots exploration picks, per list. */
  exploreSeed: number;
}

/** What the live scorer reads of LiveUpdates (src/model/live-updates.ts). */
export interface LiveSource {
  readonly content: ContentIndex;
  readonly coOccurrence: CoOccurrenceTable;
  readonly unknownCount: number;
  newItems(): readonly string[];
  knows(itemId: string): boolean;
}

/** An explored entry's promotion name: says why an item the model cannot rank is in the list. */
export const EXPLORE_PROMOTION = 'explore';

/**
 * The served model with what was learnt since it was trained. Items the model does not know get
 * the history's live neighbour score (0..1, see liveScores) times the model's best score for the
 * history, so a new item with the strongest live link ranks right below the model's first item;
 * items the model knows keep its scores, plus `knownWeight` times the same when set (in full for
 * items it knows weakly: trained on fewer than `weakBelow` interactions of them). A history of
 * items the model knows none of (a new item's related list) gives the model nothing but its
 * popularity prior: there the live neighbours count fully for known items too. Scores and
 * version are otherwise the model's, and with no live neighbour for a history its list is the
 * model's unchanged.
 */
export class LiveScorer implements ListScorer {
  readonly explore: ListScorer['explore'];

  constructor(
    private readonly model: ModelScorer,
    private readonly live: LiveSource,
    private readonly options: LiveBlendOptions,
  ) {
    this.explore = options.exploreShare > 0 ? (items, n, input, allows) => this.explored(items, n, input, allows) : undefined;
  }

  get version(): string {
    return this.model.version;
  }

  /** The model's items and the new ones the live sources know. */
  get itemCount(): number {
    return this.model.itemCount + this.live.unknownCount;
  }

  hasItem(itemId: string): boolean {
    return this.model.hasItem(itemId) || this.live.knows(itemId);
  }

  popular(k: number): ScoredItem[] {
    return this.model.popular(Math.min(k, this.model.itemCount));
  }

  async scoreOrFallback(input: ModelInput, k: number): Promise<{ items: ScoredItem[]; fallback: FallbackReason | null }> {
    const scored = await this.model.scoreOrFallback(input, Math.min(k, this.model.itemCount));
    if (scored.fallback !== null) return scored;
    const historyKnown = input.itemIds.some((id, slot) => (input.weights[slot] ?? 0) > 0 && this.model.hasItem(id));
    const knownWeight = historyKnown ? this.options.knownWeight : 1;
    // Nothing live could change this list: the common case between catalog additions, at no cost.
    if (knownWeight === 0 && this.live.unknownCount === 0 && this.options.weakBelow === 0) return scored;
    const live = liveScores(input, this.live.content, this.live.coOccurrence);
    if (live.size === 0) return scored;
    const best = scored.items[0]?.score;
    const scale = best !== undefined && best > 0 ? best : 1;
    // A known item the model did not list scores at most what its lowest listed one does.
    const floor = scored.items.at(-1)?.score ?? 0;
    const blended = new Map(scored.items.map((item, rank) => [item.itemId, { score: item.score, rank }]));
    const added: { itemId: string; score: number }[] = [];
    for (const [itemId, weight] of live) {
      if (!this.model.hasItem(itemId)) added.push({ itemId, score: scale * weight });
      else {
        const itemWeight = this.weaklyKnown(itemId) ? 1 : knownWeight;
        if (itemWeight === 0) continue;
        const listed = blended.get(itemId);
        blended.set(itemId, { score: (listed?.score ?? floor) + itemWeight * scale * weight, rank: listed?.rank ?? scored.items.length });
      }
    }
    added.sort((a, b) => (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    // Ties: the model's order first, then items it did not list, then new items by id.
    const all = [...[...blended].map(([itemId, { score, rank }]) => ({ itemId, score, rank })), ...added.map((item, i) => ({ ...item, rank: scored.items.length + 1 + i }))];
    all.sort((a, b) => b.score - a.score || a.rank - b.rank || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    return { items: all.slice(0, k).map(({ itemId, score }) => ({ itemId, score })), fallback: null };
  }

  private weaklyKnown(itemId: string): boolean {
    const { weakBelow } = this.options;
    return weakBelow > 0 && this.model.interactionCount !== undefined && this.model.interactionCount(itemId) < weakBelow;
  }

  private explored(items: readonly RecommendedItem[], n: number, input: ModelInput | null, allows: (itemId: string) => boolean): RecommendedItem[] {
    // Enough allowed candidates for the draw, even if every listed item is among them.
    const wanted = explorationSlots(n, this.options.exploreShare) * POOL_PER_SLOT + items.length;
    const pool: string[] = [];
    for (const id of this.live.newItems()) {
      if (pool.length >= wanted) break;
      if (allows(id)) pool.push(id);
    }
    const listKey = input === null ? 'popular' : input.itemIds.join('\u0000');
    return withExploration(items, n, pool, this.options.exploreShare, this.options.exploreSeed, listKey, (item) => ({ ...item, promotionName: EXPLORE_PROMOTION }));
  }
}
