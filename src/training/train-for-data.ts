import { compareIds } from '../model/item-item.js';
import type { Interaction } from '../model/types.js';
import { LEAVE_ONE_OUT_METRICS, SESSION_METRICS, type MetricSpec } from './eval-metrics.js';
import { catalogOf, type Protocol, type TuningFold } from './eval-cases.js';
import { leaveOneOutFold, leaveOneOutGroups } from './leave-one-out.js';
import { sessionFold } from './session-protocol.js';
import { metricsWithScorer, progressLogger, withScorer } from './serving-path.js';
import type { TrainedModel } from './trained-model.js';
import { DEFAULT_TUNING_CASES, trainPipeline, type PipelineOptions } from './train-pipeline.js';
import { prepareInteractions, userHistories } from './trainer.js';

export interface TrainForDataOptions extends Omit<PipelineOptions, 'protocol'> {
  protocol: Protocol;
  /** Items with no interactions that the vocabulary must still hold. */
  catalog?: readonly string[];
}

export interface TrainedBundleModel extends TrainedModel {
  /** Validation metrics of the tuned settings (serving path), recorded in the manifest. */
  validation: Record<string, number>;
}

/**
 * `attune train`: tunes on held-out validation cases (leave-one-out: each user's second-to-last
 * item; sessions: the latest 10% of sessions), measures the tuned model on them through the
 * serving path, and returns the model retrained on all the data.
 */
export async function trainForData(interactions: readonly Interaction[], options: TrainForDataOptions): Promise<TrainedBundleModel> {
  const log = options.log ?? (() => {});
  const histories = userHistories(interactions);
  const catalog = catalogOf(interactions).concat((options.catalog ?? []).filter((id) => !catalogSet(interactions).has(id)));
  catalog.sort(compareIds);
  const maxCases = options.maxTuningCases ?? DEFAULT_TUNING_CASES;
  const allData = prepareInteractions(interactions, catalog);
  let folds: TuningFold[];
  let blendFold: TuningFold;
  let spec: MetricSpec;
  if (options.protocol === 'leave-one-out') {
    const fold = leaveOneOutFold(histories, catalog, maxCases);
    folds = [fold];
    blendFold = { data: fold.data, groups: leaveOneOutGroups(histories, 2) };
    spec = LEAVE_ONE_OUT_METRICS;
  } else {
    const fold = sessionFold(histories, catalog, 0.1, maxCases * 4);
    folds = [fold];
    blendFold = fold;
    spec = SESSION_METRICS;
  }
  const trained = trainPipeline(folds, blendFold, allData, { ...options });
  const validation = await withScorer({ ...trained, model: trained.validationModel }, (scorer) =>
    metricsWithScorer(scorer, blendFold.groups, trained.reducer, spec, options.protocol === 'leave-one-out', catalog.length, progressLogger(log, 'validation')),
  );
  return { ...trained, validation };
}

function catalogSet(interactions: readonly Interaction[]): Set<string> {
  return new Set(interactions.map((x) => x.itemId));
}
