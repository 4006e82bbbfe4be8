import type { ModelInput } from './types.js';

export interface EncodedHistory {
  /** [historyLength]: vocabulary indices; unused slots hold `padIndex`. */
  indices: Int32Array;
  /** [historyLength]: float32 weights; unused slots hold 0. */
  weights: Float32Array;
}

export interface HistoryShape {
  /** L: slots per row. */
  historyLength: number;
  /** The padding row of the neighbour tables (== itemCount). */
  padIndex: number;
}

/**
 * Turns a ModelInput into one fixed-length row of the model's `items`/`weights` inputs.
 * Unknown ids and non-finite weights are dropped (a NaN would poison every score). When more
 * than L remain, the L heaviest are kept (earlier slot first on equal weight), in their original
 * order, because slot order is the order of the float sums and must not depend on the cut.
 */
export function encodeHistory(
  input: ModelInput,
  indexOf: ReadonlyMap<string, number>,
  shape: HistoryShape,
): EncodedHistory {
  const { itemIds, weights } = input;
  if (itemIds.length !== weights.length) {
    throw new Error(`ModelInput: ${itemIds.length} itemIds but ${weights.length} weights`);
  }
  const { historyLength, padIndex } = shape;
  let kept: { index: number; weight: number; slot: number }[] = [];
  for (let slot = 0; slot < itemIds.length; slot++) {
    const index = indexOf.get(itemIds[slot]);
    const weight = weights[slot];
    if (index !== undefined && Number.isFinite(weight)) kept.push({ index, weight, slot });
  }
  if (kept.length > historyLength) {
    kept = kept
      .sort((a, b) => b.weight - a.weight || a.slot - b.slot)
      .slice(0, historyLength)
      .sort((a, b) => a.slot - b.slot);
  }
  const encoded: EncodedHistory = {
    indices: new Int32Array(historyLength).fill(padIndex),
    weights: new Float32Array(historyLength),
  };
  kept.forEach(({ index, weight }, slot) => {
    encoded.indices[slot] = index;
    encoded.weights[slot] = weight;
  });
  return encoded;
}
