import type { CoOccurrenceTable } from './co-occurrence.js';
import type { ContentIndex } from './content-index.js';
import type { ModelInput } from './types.js';

/** Neighbours read per input item from each source. */
export const LIVE_NEIGHBOURS_PER_ITEM = 50;

/**
 * Weight of the content neighbours next to the co-occurrence ones (each source's best neighbour
 * of an item counts 1): evidence from visitors outranks likeness of titles.
 */
export const CONTENT_WEIGHT = 0.5;

/**
 * The live neighbours of a history: for each of its items, the co-occurrence neighbours (scaled
 * so the item's strongest counts 1) plus CONTENT_WEIGHT times its content neighbours, summed
 * with the history's weights and scaled so the best candidate scores 1. Items of the history
 * itself are left out. Empty when neither source knows any of its items.
 */
export function liveScores(input: ModelInput, content: ContentIndex, coOccurrence: CoOccurrenceTable): Map<string, number> {
  const scores = new Map<string, number>();
  const inHistory = new Set(input.itemIds);
  const addCoOccurrences = (neighbours: readonly { itemId: string; score: number }[], weight: number): void => {
    const top = neighbours[0]?.score ?? 0;
    if (!(top > 0)) return;
    for (const n of neighbours) if (!inHistory.has(n.itemId)) scores.set(n.itemId, (scores.get(n.itemId) ?? 0) + (weight * n.score) / top);
  };
  input.itemIds.forEach((itemId, slot) => {
    const weight = input.weights[slot] ?? 0;
    if (!(weight > 0)) return;
    addCoOccurrences(coOccurrence.neighbours(itemId, LIVE_NEIGHBOURS_PER_ITEM), weight);
    // Content similarity is already 0..1: not rescaled, so a weak likeness stays weak.
    for (const n of content.neighbours(itemId, LIVE_NEIGHBOURS_PER_ITEM)) {
      if (!inHistory.has(n.itemId)) scores.set(n.itemId, (scores.get(n.itemId) ?? 0) + weight * CONTENT_WEIGHT * n.score);
    }
  });
  let best = 0;
  for (const score of scores.values()) best = Math.max(best, score);
  if (best > 0) for (const [id, score] of scores) scores.set(id, score / best);
  return scores;
}
