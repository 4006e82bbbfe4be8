import type { Interaction } from '../model/types.js';
import { seededRandom } from '../lib/random.js';

export interface SyntheticSpec {
  interactions: number;
  items: number;
  users: number;
  /** Items fall into this many taste clusters; a user mostly browses one. */
  clusters?: number;
  seed?: number;
}

const EVENT_MIX: readonly [string, number][] = [
  ['view', 0.7],
  ['click', 0.15],
  ['add-to-cart', 0.1],
  ['purchase', 0.05],
];

/**
 * Interactions with Zipf-like item popularity and clustered tastes, so that co-occurrence has
 * structure to find. Item ids are `i<n>`, user ids `u<n>`; timestamps increase per user.
 */
export function syntheticInteractions(spec: SyntheticSpec): Interaction[] {
  const random = seededRandom(spec.seed ?? 1);
  const clusters = Math.max(1, Math.min(spec.clusters ?? 50, spec.items));
  // Popularity rank r weighs 1 / (r + 1); cumulative table for inverse-CDF sampling.
  const cumulative = new Float64Array(spec.items);
  let sum = 0;
  for (let r = 0; r < spec.items; r++) cumulative[r] = sum += 1 / (r + 1);
  const pickItem = (): number => {
    const target = random() * sum;
    let lo = 0;
    let hi = spec.items - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const pickEvent = (): string => {
    let roll = random();
    for (const [type, share] of EVENT_MIX) if ((roll -= share) < 0) return type;
    return 'view';
  };
  const perCluster = Math.ceil(spec.items / clusters);
  const out: Interaction[] = [];
  for (let n = 0; n < spec.interactions; n++) {
    const user = Math.floor(random() * spec.users);
    const taste = user % clusters;
    // 80% of a user's items come from their cluster, the rest from anywhere.
    const item =
      random() < 0.8 ? Math.min(spec.items - 1, taste * perCluster + (pickItem() % perCluster)) : pickItem();
    out.push({ userId: `u${user}`, itemId: `i${item}`, timestamp: 1_700_000_000_000 + n * 1000, eventType: pickEvent() });
  }
  return out;
}
