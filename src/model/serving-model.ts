import type { Arm } from '../lib/experiment.js';
import type { ReducerConfig } from '../session/state.js';
import type { ListScorer } from './recommend.js';
import type { ModelManifest } from './types.js';

/**
 * What the serving path uses of the loaded model: its scorer, and the reducer settings that
 * build the state it was trained on. Swapped as one value, so an event is never reduced with one
 * model's settings and scored by another's.
 */
export interface ServingModel {
  scorer: ListScorer;
  reducer: ReducerConfig;
  /** The experiment arm it serves (src/model/model-arms.ts); absent: the live model. */
  arm?: Arm;
}

export function servingModel(scorer: ListScorer & { manifest: ModelManifest }, serverDefaults: ReducerConfig): ServingModel {
  return { scorer, reducer: { ...serverDefaults, ...scorer.manifest.reducer } };
}
