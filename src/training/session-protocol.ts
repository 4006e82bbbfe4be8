import { performance } from 'node:perf_hooks';
import { compareIds } from '../model/item-item.js';
import type { Interaction } from '../model/types.js';
import { MetricAccumulator, SESSION_METRICS, deepestK, rankOf } from './eval-metrics.js';
import { caseCount, catalogOf, sample, type CaseGroup, type TuningFold } from './eval-cases.js';
import type { EvaluateOptions, EvaluationReport } from './eval-report.js';
import { popularityMetrics, popularityOrder } from './popularity-baseline.js';
import { caseKey, scoreReferenceRows, type ReferenceRow } from './reference-lists.js';
import { progressLogger, scoreWithScorer, withScorer } from './serving-path.js';
import { describeModel } from './trained-model.js';
import { DEFAULT_TUNING_CASES, trainPipeline } from './train-pipeline.js';
import { prepareInteractions, userHistories, type UserHistory } from './trainer.js';

// The session protocol (rsc15, session-rec's): every next click of a test session is a target;
// history items are not excluded.

/** Every next-click case of every session (sessions of one click have none). */
export function sessionGroups(histories: readonly UserHistory[]): CaseGroup[] {
  return histories
    .filter(({ events }) => events.length >= 2)
    .map(({ userId, events }) => ({ userId, events, prefixes: Array.from({ length: events.length - 1 }, (_, p) => p + 1) }));
}

/**
 * Session tuning split: the latest `share` of sessions (by their first event) validate, the
 * rest train. Returns the fold and the training sessions.
 */
export function sessionFold(histories: readonly UserHistory[], catalog: readonly string[], share: number, maxCases: number): TuningFold {
  const byStart = [...histories].sort(
    (a, b) => (a.events[0]?.timestamp ?? 0) - (b.events[0]?.timestamp ?? 0) || compareIds(a.userId, b.userId),
  );
  const cut = Math.max(1, Math.min(byStart.length - 1, Math.round(byStart.length * (1 - share))));
  const train = byStart.slice(0, cut);
  const validation = byStart.slice(cut);
  let groups = sessionGroups(validation);
  // Cap by sessions, keeping whole sessions.
  while (caseCount(groups) > maxCases && groups.length > 1) groups = sample(groups, Math.floor(groups.length * 0.8));
  return { data: prepareInteractions(train.flatMap((h) => h.events), catalog), groups };
}

export interface NamedReference {
  name: string;
  rows: readonly ReferenceRow[];
}

export interface SessionReport extends EvaluationReport {
  trainSessions: number;
  testSessions: number;
  /** Next-click cases of the test sessions. */
  cases: number;
  /**
   * Each reference list scored on the cases it covers, beside ours on exactly those cases (the
   * reference files cover a subset of the test sessions).
   */
  references: Record<string, { cases: number; unmatched: number; metrics: Record<string, number>; ours: Record<string, number> }>;
  /** Ours on the cases every reference list covers. */
  oursOnSharedCases: { cases: number; metrics: Record<string, number> };
}

/**
 * session-rec's protocol: train on `train`; for every test session and every click p but the
 * last, predict click p + 1 from clicks 1..p; HR@20 and MRR@20 over all those cases, history
 * items not excluded (session-rec's convention for rsc15). Reference lists are scored the same way.
 */
export async function evaluateSessionsReport(
  train: readonly Interaction[],
  test: readonly Interaction[],
  references: readonly NamedReference[],
  options: EvaluateOptions,
): Promise<SessionReport> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const trainHistories = userHistories(train);
  const testHistories = userHistories(test);
  const catalog = catalogOf(train, test);
  log(`${trainHistories.length} training sessions, ${testHistories.length} test sessions, ${catalog.length} items`);
  const fold = sessionFold(trainHistories, catalog, 0.1, (options.maxTuningCases ?? DEFAULT_TUNING_CASES) * 2);
  const finalData = prepareInteractions(train, catalog);
  const trained = trainPipeline([fold], fold, finalData, { ...options, protocol: 'sessions' });
  const trainSeconds = (performance.now() - started) / 1000;
  const evaluateStarted = performance.now();
  const groups = sessionGroups(testHistories);
  const sessions = new Map(testHistories.map((h) => [h.userId, h.events] as const));
  const scoredRefs = references.map((ref) => ({ name: ref.name, score: scoreReferenceRows(ref.rows, sessions) }));
  const shared = scoredRefs.length === 0 ? new Set<string>() : new Set([...scoredRefs[0].score.keys].filter((k) => scoredRefs.every((r) => r.score.keys.has(k))));

  const spec = SESSION_METRICS;
  const all = new MetricAccumulator(spec, catalog.length);
  const perRef = scoredRefs.map(() => new MetricAccumulator(spec, catalog.length));
  const onShared = new MetricAccumulator(spec, catalog.length);
  const keyOf = groups.flatMap((g) => g.prefixes.map((p) => caseKey(g.userId, p)));
  let c = 0;
  await withScorer(trained, (scorer) =>
    scoreWithScorer(scorer, groups, trained.reducer, { listLength: deepestK(spec), exclude: false, onProgress: progressLogger(log, 'test') }, (list, target) => {
      const rank = rankOf(list, target);
      const key = keyOf[c++];
      all.add(rank, list);
      scoredRefs.forEach((ref, r) => {
        if (ref.score.keys.has(key)) perRef[r].add(rank, list);
      });
      if (shared.has(key)) onShared.add(rank, list);
    }),
  );
  const popularity = popularityMetrics(popularityOrder(train, catalog), groups, spec, false, catalog.length);
  return {
    dataset: options.dataset ?? 'sessions',
    trainSessions: trainHistories.length,
    testSessions: testHistories.length,
    items: catalog.length,
    cases: caseCount(groups),
    trainSeconds,
    evaluateSeconds: (performance.now() - evaluateStarted) / 1000,
    metrics: all.result(),
    validation: trained.tuningMetrics,
    baseline: { popularity },
    references: Object.fromEntries(
      scoredRefs.map((ref, r) => [
        ref.name,
        { cases: ref.score.cases, unmatched: ref.score.unmatched, metrics: ref.score.metrics, ours: perRef[r].result() },
      ]),
    ),
    oursOnSharedCases: { cases: onShared.count, metrics: onShared.result() },
    ...describeModel(trained),
  };
}
