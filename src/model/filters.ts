import type { SessionState } from '../actors/state.js';
import type { CatalogIndex } from './catalog.js';
import type { ScoredItem } from './types.js';

/** Why an item may not be shown to this session. */
export interface ExclusionContext {
  catalog: CatalogIndex;
  purchased: ReadonlySet<string>;
}

export function exclusionContext(catalog: CatalogIndex, state: SessionState | null): ExclusionContext {
  return { catalog, purchased: new Set(state?.purchased ?? []) };
}

export function isExcluded(itemId: string, context: ExclusionContext): boolean {
  return context.purchased.has(itemId) || !context.catalog.isInStock(itemId);
}

/**
 * How many candidates to ask the model for so that `n` survive the filters: at worst every
 * excluded item ranks above every allowed one.
 */
export function candidatesNeeded(n: number, context: ExclusionContext): number {
  return n + context.purchased.size + context.catalog.outOfStockCount;
}

/** The first `n` candidates that pass every filter, in the model's order. */
export function filterTopN(candidates: readonly ScoredItem[], n: number, context: ExclusionContext): ScoredItem[] {
  const kept: ScoredItem[] = [];
  for (const candidate of candidates) {
    if (kept.length === n) break;
    if (!isExcluded(candidate.itemId, context)) kept.push(candidate);
  }
  return kept;
}
