import type { CatalogIndex } from '../model/catalog.js';

/**
 * Whether a model that knows `itemIds` is a stranger to the catalog: the catalog holds items and
 * the model knows none of them, so its lists would name only items the catalog lacks (a demo
 * catalog beside a shop's model, a bundle trained for another shop). An empty catalog (items not
 * loaded yet) fits any model.
 */
export function strangerToCatalog(itemIds: readonly string[], catalog: Pick<CatalogIndex, 'get' | 'size'>): boolean {
  return catalog.size > 0 && !itemIds.some((itemId) => catalog.get(itemId) !== undefined);
}
