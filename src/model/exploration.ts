import { seededRandom } from '../lib/random.js';
import type { ScoredItem } from './types.js';

/** Exploration slots of a list of `n`: at most `share` of them, rounded down. */
export function explorationSlots(n: number, share: number): number {
  return Math.max(0, Math.min(n, Math.floor(n * share + 1e-9)));
}

/** How many of the pool's first (least exposed) candidates each slot is drawn from. */
export const POOL_PER_SLOT = 4;

/** FNV-1a, 32 bits: a list's key to a seed, the same on every node and run. */
export function hashKey(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A list with up to explorationSlots(n, share) slots given to candidates of `pool` (new or
 * under-exposed items, least exposed first; those already listed are skipped), so items the
 * model cannot rank yet can earn interactions. Which candidates and which slots (never the top
 * one, unless the list has one slot) are drawn from a generator seeded by `seed` and `listKey`:
 * the same list asked twice gets the same answer. Each explored item takes the score of the
 * slot it fills; the items it displaces from the end drop off. `mark` builds the explored entry.
 */
export function withExploration<T extends ScoredItem>(
  items: readonly T[],
  n: number,
  pool: readonly string[],
  share: number,
  seed: number,
  listKey: string,
  mark: (item: ScoredItem) => T,
): T[] {
  const slots = explorationSlots(n, share);
  if (slots === 0 || pool.length === 0) return items.slice(0, n);
  const listed = new Set(items.map((item) => item.itemId));
  const candidates = pool.filter((id) => !listed.has(id)).slice(0, slots * POOL_PER_SLOT);
  if (candidates.length === 0) return items.slice(0, n);
  const random = seededRandom(hashKey(`${seed}|${listKey}`));
  const picks: string[] = [];
  while (picks.length < slots && candidates.length > 0) picks.push(candidates.splice(Math.floor(random() * candidates.length), 1)[0]);
  const size = Math.min(n, items.length + picks.length);
  const open = size === 1 ? [0] : Array.from({ length: size - 1 }, (_, i) => i + 1);
  const positions: number[] = [];
  while (positions.length < picks.length) positions.push(open.splice(Math.floor(random() * open.length), 1)[0]);
  const at = new Map(positions.map((position, i) => [position, picks[i]]));
  const regular = items.slice(0, size - picks.length);
  const out: T[] = [];
  let next = 0;
  for (let slot = 0; slot < size; slot++) {
    const pick = at.get(slot);
    if (pick === undefined) out.push(regular[next++]);
    else out.push(mark({ itemId: pick, score: (regular[next] ?? regular.at(-1))?.score ?? 0 }));
  }
  return out;
}
