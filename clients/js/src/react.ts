import { useCallback, useSyncExternalStore } from 'react';
import type { AttuneClient } from './client.js';
import type { Recommendations } from './types.js';

/** The parts of a client the hook reads: an AttuneClient, or anything shaped like one. */
export type RecommendationsSource = Pick<AttuneClient, 'onRecommendations' | 'recommendations'>;

/**
 * The latest list `attune` received (null until the first push); the component re-renders on
 * every push. Create the client once (outside the component, or in a ref/context), not per render.
 */
export function useRecommendations(attune: RecommendationsSource): Recommendations | null {
  const subscribe = useCallback((onChange: () => void) => attune.onRecommendations(onChange), [attune]);
  const snapshot = () => attune.recommendations;
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}
