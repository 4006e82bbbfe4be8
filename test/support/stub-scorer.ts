import type { ListScorer } from '../../src/model/recommend.js';
import type { ScoredItem } from '../../src/model/types.js';

/** A scorer whose lists are fixed: the model's whatever the input, and popularity's. Records every k asked for. */
export function stubScorer(model: Array<[string, number]>, popular: Array<[string, number]> = model): ListScorer & { asked: number[] } {
  const asItems = (list: Array<[string, number]>): ScoredItem[] => list.map(([itemId, score]) => ({ itemId, score }));
  const asked: number[] = [];
  return {
    version: 'stub-1',
    itemCount: model.length,
    asked,
    async scoreOrFallback(_input, k) {
      asked.push(k);
      return { items: asItems(model).slice(0, k), fallback: null };
    },
    popular(k) {
      asked.push(k);
      return asItems(popular).slice(0, k);
    },
  };
}
