import type { CatalogItem } from '../store/types.js';

/**
 * This node's view of the catalog, read synchronously on the hot path by filters and by the
 * reducer's enrichment. Kept current by whoever writes the catalog store.
 */
export class CatalogIndex {
  private readonly items = new Map<string, CatalogItem>();
  private outOfStock = 0;
  private readonly listeners = new Set<(items: readonly CatalogItem[]) => void>();

  constructor(items: readonly CatalogItem[] = []) {
    this.apply(items);
  }

  /** Applies stored items; returns the ids whose stock flag changed. */
  apply(items: readonly CatalogItem[]): string[] {
    const stockChanged: string[] = [];
    for (const item of items) {
      const previous = this.items.get(item.itemId);
      if (previous && !previous.inStock) this.outOfStock--;
      if (!item.inStock) this.outOfStock++;
      if (previous && previous.inStock !== item.inStock) stockChanged.push(item.itemId);
      this.items.set(item.itemId, item);
    }
    for (const listener of this.listeners) listener(items);
    return stockChanged;
  }

  /**
   * Calls `listener` with every batch of items applied from now on (writes through this node,
   * imports, and other nodes' writes the catalog sync reads). Returns the unsubscribe.
   */
  onApply(listener: (items: readonly CatalogItem[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(itemId: string): CatalogItem | undefined {
    return this.items.get(itemId);
  }

  isInStock(itemId: string): boolean {
    // Items the catalog does not know are not known to be out of stock.
    return this.items.get(itemId)?.inStock ?? true;
  }

  get outOfStockCount(): number {
    return this.outOfStock;
  }

  get size(): number {
    return this.items.size;
  }

  all(): CatalogItem[] {
    return [...this.items.values()];
  }
}
