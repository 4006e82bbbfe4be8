import type { CatalogItemUpdate } from '../store/types.js';

/**
 * PutItems sends each item's metadata as a JSON string keyed by the schema's field names in
 * camelCase (`{"categoryL1": "shoes", "price": 89.5}`). Attune's catalog keeps a title, a
 * category, a price and stock: these names map onto them; other fields are not kept.
 */
const FIELDS: Readonly<Record<string, 'title' | 'category' | 'price' | 'inStock'>> = {
  title: 'title',
  name: 'title',
  category: 'category',
  categoryl1: 'category',
  categories: 'category',
  genre: 'category',
  genres: 'category',
  price: 'price',
  instock: 'inStock',
  available: 'inStock',
};

/** The item update a PutItems item describes, or why it cannot. */
export function itemUpdateFromProperties(itemId: string, properties: Record<string, unknown>): CatalogItemUpdate | string {
  const update: CatalogItemUpdate = { itemId };
  for (const [name, value] of Object.entries(properties)) {
    const field = FIELDS[name.toLowerCase().replaceAll('_', '')];
    if (field === undefined) continue;
    if (field === 'price') {
      const price = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(price) || price < 0) return `${name} must be a non-negative number`;
      update.price = price;
    } else if (field === 'inStock') {
      if (value === true || value === 'true' || value === 1 || value === '1') update.inStock = true;
      else if (value === false || value === 'false' || value === 0 || value === '0') update.inStock = false;
      else return `${name} must be true or false`;
    } else {
      if (typeof value !== 'string' || value === '') return `${name} must be a non-empty string`;
      // Personalize's multi-valued categorical fields are "a|b": the first value is the category.
      const text = field === 'category' ? value.split('|')[0] : value;
      if (text.length > (field === 'title' ? 1024 : 256)) return `${name} is too long`;
      if (field === 'category') update.category = text;
      else update.title = text;
    }
  }
  return update;
}
