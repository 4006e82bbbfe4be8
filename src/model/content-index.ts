import type { ScoredItem } from './types.js';

/** What the content index reads of a catalog item. */
export interface ContentItem {
  itemId: string;
  category: string;
  title: string;
}

export interface ContentIndexOptions {
  /**
   * Items remembered per category and per title token, the latest written kept: bounds the work
   * of one lookup, and favours the newest items, the ones without interactions yet.
   */
  postingLimit: number;
}

export const DEFAULT_CONTENT_OPTIONS: Readonly<ContentIndexOptions> = Object.freeze({ postingLimit: 500 });

/** Share of the similarity a shared category gives; the rest comes from the titles' token overlap. */
export const CATEGORY_SHARE = 0.5;

/** Neighbours remembered per item between catalog writes. */
const MEMO_NEIGHBOURS = 50;

/** Title tokens shorter than this carry no meaning of their own ("a", "of", sizes like "xl"). */
const MIN_TOKEN_LENGTH = 3;

/** The distinct lower-case word tokens of a title (letters and digits of any script), in first-seen order. */
export function titleTokens(title: string): string[] {
  const tokens = title.toLowerCase().split(/[^\p{L}\p{N}]+/u);
  return [...new Set(tokens.filter((token) => token.length >= MIN_TOKEN_LENGTH))];
}

/**
 * How alike two items are by their content alone, 0..1: CATEGORY_SHARE for the same non-empty
 * category, plus the rest times the Jaccard overlap of their title tokens.
 */
export function contentSimilarity(a: { category: string; tokens: readonly string[] }, b: { category: string; tokens: readonly string[] }): number {
  const sameCategory = a.category !== '' && a.category === b.category ? CATEGORY_SHARE : 0;
  if (a.tokens.length === 0 || b.tokens.length === 0) return sameCategory;
  const other = new Set(b.tokens);
  const shared = a.tokens.filter((token) => other.has(token)).length;
  const union = a.tokens.length + b.tokens.length - shared;
  return sameCategory + (1 - CATEGORY_SHARE) * (shared / union);
}

interface Indexed {
  category: string;
  tokens: string[];
}

/**
 * Neighbours from content, for items no interaction has linked yet: a new item is like the
 * items of its category and those whose titles share its words. Kept current item by item as
 * the catalog changes; a lookup scores only the items sharing a posting (category or token)
 * with the item, each posting holding its latest `postingLimit` items.
 */
export class ContentIndex {
  private readonly items = new Map<string, Indexed>();
  /** Posting key (`c:category` or `t:token`) -> item ids, oldest first (a Set keeps insertion order). */
  private readonly postings = new Map<string, Set<string>>();
  /** neighbours() per item, as long as the catalog does not change: lookups far outnumber writes. */
  private readonly memo = new Map<string, { kept: ScoredItem[]; complete: boolean }>();

  constructor(private readonly options: ContentIndexOptions = DEFAULT_CONTENT_OPTIONS) {}

  get size(): number {
    return this.items.size;
  }

  has(itemId: string): boolean {
    return this.items.has(itemId);
  }

  /** Ids of every indexed item, in the order first written. */
  itemIds(): IterableIterator<string> {
    return this.items.keys();
  }

  /** Adds or re-indexes items (a changed title or category moves them). */
  upsert(items: readonly ContentItem[]): void {
    if (items.length > 0) this.memo.clear();
    for (const item of items) {
      this.remove(item.itemId);
      const indexed: Indexed = { category: item.category, tokens: titleTokens(item.title) };
      this.items.set(item.itemId, indexed);
      for (const key of postingKeys(indexed)) {
        let posting = this.postings.get(key);
        if (posting === undefined) this.postings.set(key, (posting = new Set()));
        posting.add(item.itemId);
        if (posting.size > this.options.postingLimit) {
          const oldest = posting.values().next().value;
          if (oldest !== undefined) posting.delete(oldest);
        }
      }
    }
  }

  /**
   * The `k` items most alike `itemId` by content (similarity > 0), best first, ties by id;
   * none for an item not indexed.
   */
  neighbours(itemId: string, k: number): ScoredItem[] {
    const self = this.items.get(itemId);
    if (self === undefined || k <= 0) return [];
    const memo = this.memo.get(itemId);
    if (memo !== undefined && (memo.complete || memo.kept.length >= k)) return memo.kept.slice(0, k);
    const candidates = new Set<string>();
    for (const key of postingKeys(self)) for (const id of this.postings.get(key) ?? []) if (id !== itemId) candidates.add(id);
    const scored: ScoredItem[] = [];
    for (const id of candidates) {
      const other = this.items.get(id);
      if (other === undefined) continue;
      const score = contentSimilarity(self, other);
      if (score > 0) scored.push({ itemId: id, score });
    }
    scored.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    const kept = scored.slice(0, Math.max(k, MEMO_NEIGHBOURS));
    this.memo.set(itemId, { kept, complete: kept.length === scored.length });
    return kept.slice(0, k);
  }

  private remove(itemId: string): void {
    const previous = this.items.get(itemId);
    if (previous === undefined) return;
    this.items.delete(itemId);
    for (const key of postingKeys(previous)) {
      const posting = this.postings.get(key);
      posting?.delete(itemId);
      if (posting?.size === 0) this.postings.delete(key);
    }
  }
}

function postingKeys(item: Indexed): string[] {
  return [...(item.category === '' ? [] : [`c:${item.category}`]), ...item.tokens.map((token) => `t:${token}`)];
}
