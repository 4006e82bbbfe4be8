import { AttuneError } from '../errors.js';
import { defaultFilter, type FilterOptions, type Promotion } from '../model/filters.js';
import type { ListOptions } from '../model/recommend.js';
import { idSchema } from './schemas.js';

/** Query parameters every list route accepts: who it is for, and which items may show. */
export const identityQueryProperties = {
  sessionId: idSchema,
  userId: idSchema,
} as const;

export const filterQueryProperties = {
  excludeSeen: { type: 'boolean' },
  excludePurchased: { type: 'boolean' },
  includeOutOfStock: { type: 'boolean' },
  /** Comma-separated categories. */
  category: { type: 'string', minLength: 1, maxLength: 4096 },
  excludeCategory: { type: 'string', minLength: 1, maxLength: 4096 },
  promotionName: { type: 'string', minLength: 1, maxLength: 128 },
  promotionCategory: { type: 'string', minLength: 1, maxLength: 4096 },
  promotionShare: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
} as const;

export interface FilterQuery {
  excludeSeen?: boolean;
  excludePurchased?: boolean;
  includeOutOfStock?: boolean;
  category?: string;
  excludeCategory?: string;
  promotionName?: string;
  promotionCategory?: string;
  promotionShare?: number;
}

const list = (value: string | undefined): string[] | null => (value === undefined ? null : value.split(',').map((c) => c.trim()).filter((c) => c !== ''));

export function filterFromQuery(query: FilterQuery, base: FilterOptions = defaultFilter): FilterOptions {
  return {
    ...base,
    excludeSeen: query.excludeSeen ?? base.excludeSeen,
    excludePurchased: query.excludePurchased ?? base.excludePurchased,
    excludeOutOfStock: query.includeOutOfStock === undefined ? base.excludeOutOfStock : !query.includeOutOfStock,
    includeCategories: list(query.category) ?? base.includeCategories,
    excludeCategories: list(query.excludeCategory) ?? base.excludeCategories,
  };
}

export function listOptionsFromQuery(query: FilterQuery): ListOptions {
  const filter = filterFromQuery(query);
  const promotionFields = [query.promotionName, query.promotionCategory, query.promotionShare];
  if (promotionFields.every((f) => f === undefined)) return { filter };
  if (promotionFields.some((f) => f === undefined)) {
    throw new AttuneError('VALIDATION', 'a promotion needs promotionName, promotionCategory and promotionShare together');
  }
  const promotion: Promotion = { name: query.promotionName ?? '', share: query.promotionShare ?? 0, categories: list(query.promotionCategory) ?? [] };
  return { filter, promotion };
}
