import type { Interaction } from '../../src/model/types.js';

/**
 * Sessions that walk a ring of items with a fixed step: session s starts at item (s * 13) mod
 * `items` and visits `length` items, `step` apart. Sessions start a minute apart from `startAt`,
 * events a second apart, so the latest sessions are the last ones. A model trained on one step
 * predicts that step's next item, and misses the items of sessions with another step.
 */
export function ringSessions(spec: { sessions: number; step: number; items?: number; length?: number; startAt?: number; prefix?: string }): Interaction[] {
  const items = spec.items ?? 200;
  const length = spec.length ?? 6;
  const startAt = spec.startAt ?? 1_700_000_000_000;
  const out: Interaction[] = [];
  for (let s = 0; s < spec.sessions; s++) {
    for (let p = 0; p < length; p++) {
      out.push({ userId: `${spec.prefix ?? 's'}${s}`, itemId: `r${((s * 13) + p * spec.step) % items}`, timestamp: startAt + s * 60_000 + p * 1000, eventType: 'view' });
    }
  }
  return out;
}
