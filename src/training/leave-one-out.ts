import { performance } from 'node:perf_hooks';
import type { Interaction } from '../model/types.js';
import { LEAVE_ONE_OUT_METRICS } from './eval-metrics.js';
import { catalogOf, sample, trainingPart, type CaseGroup, type TuningFold } from './eval-cases.js';
import type { EvaluateOptions, EvaluationReport } from './eval-report.js';
import { popularityMetrics, popularityOrder } from './popularity-baseline.js';
import { metricsWithScorer, progressLogger, withScorer } from './serving-path.js';
import { describeModel } from './trained-model.js';
import { DEFAULT_TUNING_CASES, trainPipeline } from './train-pipeline.js';
import { prepareInteractions, userHistories, type PreparedData, type UserHistory } from './trainer.js';

// The leave-one-out protocol (s3rec, csv): each user's last item is the test target, the
// second-to-last the validation target; the user's history items are excluded.

/**
 * Leave-one-out cases: the target is `fromEnd` items before the end (1 = the last item); users
 * whose history before the target would be empty are skipped.
 */
export function leaveOneOutGroups(histories: readonly UserHistory[], fromEnd: number): CaseGroup[] {
  const groups: CaseGroup[] = [];
  for (const { userId, events } of histories) {
    const prefix = events.length - fromEnd;
    if (prefix >= 1) groups.push({ userId, events, prefixes: [prefix] });
  }
  return groups;
}

/**
 * The leave-one-out tuning fold: a model trained on all but each user's last two items, scored
 * on the validation target (the second-to-last item, history: all before it), at most
 * `maxCases` users. The test target is never used.
 */
export function leaveOneOutFold(histories: readonly UserHistory[], catalog: readonly string[], maxCases: number, data?: PreparedData): TuningFold {
  return {
    data: data ?? prepareInteractions(trainingPart(histories, 2), catalog),
    groups: sample(leaveOneOutGroups(histories, 2), maxCases),
  };
}

export interface LeaveOneOutReport extends EvaluationReport {
  users: number;
  interactions: number;
}

/** The leave-one-out protocol end to end: tune, train, score validation and test through the serving path. */
export async function evaluateLeaveOneOut(interactions: readonly Interaction[], options: EvaluateOptions = { tuneHalfLife: false }): Promise<LeaveOneOutReport> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const histories = userHistories(interactions);
  const catalog = catalogOf(interactions);
  const maxCases = options.maxTuningCases ?? DEFAULT_TUNING_CASES;
  log(`${histories.length} users, ${catalog.length} items, ${interactions.length} interactions`);
  const finalData = prepareInteractions(trainingPart(histories, 2), catalog);
  const folds = [leaveOneOutFold(histories, catalog, maxCases, finalData)];
  const validationGroups = leaveOneOutGroups(histories, 2);
  const testGroups = leaveOneOutGroups(histories, 1);
  const trained = trainPipeline(folds, { data: finalData, groups: validationGroups }, finalData, { ...options, protocol: 'leave-one-out' });
  const trainSeconds = (performance.now() - started) / 1000;
  const evaluateStarted = performance.now();
  const spec = LEAVE_ONE_OUT_METRICS;
  const { validation, metrics } = await withScorer(trained, async (scorer) => ({
    validation: await metricsWithScorer(scorer, validationGroups, trained.reducer, spec, true, catalog.length, progressLogger(log, 'validation')),
    metrics: await metricsWithScorer(scorer, testGroups, trained.reducer, spec, true, catalog.length, progressLogger(log, 'test')),
  }));
  const popularity = popularityMetrics(popularityOrder(trainingPart(histories, 2), catalog), testGroups, spec, true, catalog.length);
  return {
    dataset: options.dataset ?? 'data',
    users: histories.length,
    items: catalog.length,
    interactions: interactions.length,
    trainSeconds,
    evaluateSeconds: (performance.now() - evaluateStarted) / 1000,
    metrics,
    validation,
    baseline: { popularity },
    ...describeModel(trained),
  };
}
