import type { InteractionEntry } from '../session/events.js';
import { DecayedCounts } from './decayed-counts.js';

/** Live popular (slow decay) and trending (fast decay) counts, fed by every accepted event. */
export class ItemTrends {
  readonly popular: DecayedCounts;
  readonly trending: DecayedCounts;

  constructor(popularHalfLifeMs: number, trendingHalfLifeMs: number) {
    this.popular = new DecayedCounts(popularHalfLifeMs);
    this.trending = new DecayedCounts(trendingHalfLifeMs);
  }

  record(entry: InteractionEntry, weight: number): void {
    this.popular.add(entry.itemId, entry.sentAt, weight);
    this.trending.add(entry.itemId, entry.sentAt, weight);
  }
}
