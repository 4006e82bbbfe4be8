import type { SessionState } from '../session/state.js';
import type { CatalogIndex } from './catalog.js';
import type { ScoredItem } from './types.js';

/** Which items a list may show. Every recipe takes the same options. */
export interface FilterOptions {
  excludeOutOfStock: boolean;
  excludePurchased: boolean;
  /** Items the session already interacted with (its weighted items). */
  excludeSeen: boolean;
  /** When set, only items of these categories. */
  includeCategories: readonly string[] | null;
  excludeCategories: readonly string[] | null;
  excludeItems: readonly string[];
}

export const defaultFilter: FilterOptions = {
  excludeOutOfStock: true,
  excludePurchased: true,
  excludeSeen: false,
  includeCategories: null,
  excludeCategories: null,
  excludeItems: [],
};

/** A caller's own test of an item (e.g. a Personalize filter expression): true keeps it. */
export type ItemPredicate = (itemId: string) => boolean;

/**
 * A share of the slots reserved for items matching a filter: a campaign's categories, or a
 * predicate (which, when given, is used instead of the categories). It has one or the other.
 */
export type Promotion = {
  name: string;
  /** 0..1: the share of the list's slots. */
  share: number;
} & ({ categories: readonly string[]; allows?: ItemPredicate } | { categories?: readonly string[]; allows: ItemPredicate });

export interface ItemFilter {
  allows(itemId: string): boolean;
  /**
   * At most how many items it excludes, when that is known without scanning the catalog;
   * null when a category filter makes it open-ended.
   */
  maxExcluded: number | null;
}

export function buildFilter(catalog: CatalogIndex, state: SessionState | null, options: FilterOptions = defaultFilter): ItemFilter {
  const excluded = new Set<string>(options.excludeItems);
  if (options.excludePurchased && state) for (const id of state.purchased) excluded.add(id);
  if (options.excludeSeen && state) for (const [id] of state.itemSums) excluded.add(id);
  const include = options.includeCategories === null ? null : new Set(options.includeCategories);
  const exclude = options.excludeCategories === null ? null : new Set(options.excludeCategories);
  const byCategory = include !== null || exclude !== null;
  return {
    allows(itemId) {
      if (excluded.has(itemId)) return false;
      if (options.excludeOutOfStock && !catalog.isInStock(itemId)) return false;
      if (!byCategory) return true;
      const category = catalog.get(itemId)?.category;
      if (include !== null && (category === undefined || !include.has(category))) return false;
      return exclude === null || category === undefined || !exclude.has(category);
    },
    maxExcluded: byCategory ? null : excluded.size + (options.excludeOutOfStock ? catalog.outOfStockCount : 0),
  };
}

/** The filter with a caller's predicate AND-ed in; the predicate makes its exclusions open-ended. */
export function withPredicate(filter: ItemFilter, allow: ItemPredicate | undefined): ItemFilter {
  if (allow === undefined) return filter;
  return { allows: (itemId) => filter.allows(itemId) && allow(itemId), maxExcluded: null };
}

/** The items a promotion may place: those the base filter allows and the promotion's predicate, else its categories, match. */
export function promotionFilter(catalog: CatalogIndex, base: ItemFilter, promotion: Promotion): ItemFilter {
  let matches: ItemPredicate;
  if (promotion.allows !== undefined) matches = promotion.allows;
  else {
    const categories = new Set(promotion.categories);
    matches = (itemId) => categories.has(catalog.get(itemId)?.category ?? '');
  }
  return { allows: (itemId) => base.allows(itemId) && matches(itemId), maxExcluded: null };
}

/** The first `n` candidates that pass, in the model's order. */
export function filterTopN(candidates: readonly ScoredItem[], n: number, filter: ItemFilter): ScoredItem[] {
  const kept: ScoredItem[] = [];
  for (const candidate of candidates) {
    if (kept.length === n) break;
    if (filter.allows(candidate.itemId)) kept.push(candidate);
  }
  return kept;
}

/**
 * Places promoted items among regular ones at evenly spaced slots (the first at slot 0), so a
 * promotion is visible without taking the top of the list wholesale.
 */
export function interleavePromoted<T>(regular: readonly T[], promoted: readonly T[], n: number): T[] {
  const list: T[] = [];
  let r = 0;
  let p = 0;
  const every = promoted.length === 0 ? Infinity : n / promoted.length;
  for (let slot = 0; slot < n && (r < regular.length || p < promoted.length); slot++) {
    const promotedSlot = p < promoted.length && slot >= Math.round(p * every);
    if ((promotedSlot || r >= regular.length) && p < promoted.length) list.push(promoted[p++]);
    else list.push(regular[r++]);
  }
  return list;
}
