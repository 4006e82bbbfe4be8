import { performance } from 'node:perf_hooks';
import { compareIds } from '../model/item-item.js';
import { Scorer } from '../model/scorer.js';
import { servingModel } from '../model/serving-model.js';
import type { ManifestLineage } from '../model/lineage.js';
import type { Interaction, ModelManifest } from '../model/types.js';
import type { ReducerConfig } from '../session/state.js';
import { writeBundle } from './bundle-writer.js';
import { checkMinimumData } from './datasets.js';
import { caseCount, catalogOf, type CaseGroup, type Log } from './eval-cases.js';
import { SESSION_METRICS } from './eval-metrics.js';
import { metricsWithScorer } from './serving-path.js';
import { sessionGroups } from './session-protocol.js';
import { bundleMeta } from './trained-model.js';
import { trainForData } from './train-for-data.js';
import { userHistories, type UserHistory } from './trainer.js';

/** What one retraining run is given: the whole log's interactions and where the models are. */
export interface RetrainInput {
  interactions: Interaction[];
  /** The bundle being served now: the candidate is compared with it. */
  liveModelDir: string;
  /** Where the candidate's bundle is written. */
  outDir: string;
  /** Share of sessions (the latest by their first event) held out to compare the two models on. */
  holdout: number;
  /** Tuning and training stay within this; reading and scoring come on top. */
  trainBudgetMs: number;
  /** The server's reducer settings, under each bundle's own (as a node serves them). */
  reducerDefaults: ReducerConfig;
  /** Recorded in the candidate's manifest: the log window read and the version it is to replace. */
  lineage: Pick<ManifestLineage, 'firstEventId' | 'lastEventId' | 'parentVersion'>;
}

/** The candidate and both models' held-out metrics (SESSION_METRICS: HR@20, MRR@20). */
export interface RetrainOutcome {
  manifest: ModelManifest;
  candidateDir: string;
  candidate: Record<string, number>;
  live: Record<string, number>;
  liveVersion: string;
  /** Next-click cases of the held-out sessions. */
  cases: number;
  trainSessions: number;
  holdoutSessions: number;
  /** Time span (epoch ms of the first and last event) of what the candidate was trained on. */
  window: { from: number; to: number };
  seconds: number;
}

/** Sessions ("users" of the log: a session identified as a user counts for the user) split by time. */
export interface HoldoutSplit {
  train: UserHistory[];
  holdout: UserHistory[];
}

/**
 * The latest `share` of sessions by their first event are held out (at least one), the rest
 * train (at least one); ties by id, so the split is the same on every run over the same log.
 */
export function holdoutSplit(histories: readonly UserHistory[], share: number): HoldoutSplit {
  if (!(share > 0 && share < 1)) throw new RangeError(`the held-out share must be between 0 and 1, got ${share}`);
  if (histories.length < 2) throw new RetrainDataError(`the log holds ${histories.length} session(s): at least 2 are needed to train on one and hold one out`);
  const byStart = [...histories].sort((a, b) => (a.events[0]?.timestamp ?? 0) - (b.events[0]?.timestamp ?? 0) || compareIds(a.userId, b.userId));
  const cut = Math.max(1, Math.min(byStart.length - 1, Math.round(byStart.length * (1 - share))));
  return { train: byStart.slice(0, cut), holdout: byStart.slice(cut) };
}

/** The log cannot be split into sessions to train on and sessions to hold out. */
export class RetrainDataError extends Error {
  override name = 'RetrainDataError';
}

/**
 * One retraining run: trains a candidate on every session but the held-out ones (through the
 * same pipeline as `attune train`), writes its bundle, and scores it and the live bundle on the
 * held-out sessions through the serving path. The candidate that is measured is the one that
 * would be promoted: it never saw the sessions it is judged on.
 */
export async function runRetrain(input: RetrainInput, log: Log = () => {}): Promise<RetrainOutcome> {
  const started = performance.now();
  // A session of one event has no next click to predict and no pair to learn from.
  const split = holdoutSplit(userHistories(input.interactions).filter((h) => h.events.length >= 2), input.holdout);
  const trainInteractions = split.train.flatMap((h) => h.events);
  checkMinimumData(trainInteractions);
  const groups = sessionGroups(split.holdout);
  log(`retrain: ${trainInteractions.length} interactions in ${split.train.length} sessions to train on, ${split.holdout.length} sessions (${caseCount(groups)} cases) held out`);
  // Items only the held-out sessions name are in the vocabulary too: a promoted model can serve them.
  const catalog = catalogOf(input.interactions);
  // Tuned as `attune train` tunes on the log (leave-one-out per user, half-life tuned too).
  const trained = await trainForData(trainInteractions, { protocol: 'leave-one-out', tuneHalfLife: true, budgetMs: input.trainBudgetMs, catalog, log });
  let from = Infinity;
  let to = -Infinity;
  for (const { timestamp } of trainInteractions) {
    from = Math.min(from, timestamp);
    to = Math.max(to, timestamp);
  }
  const meta = bundleMeta(trained, {});
  const written = {
    ...meta,
    parameters: { ...meta.parameters, dataset: 'event log', format: 'log', protocol: 'leave-one-out', heldOutShare: input.holdout, trainedFrom: new Date(from).toISOString(), trainedTo: new Date(to).toISOString() },
    lineage: { source: 'event log', rows: trainInteractions.length, ...input.lineage },
  };
  const candidateManifest = await writeBundle(input.outDir, trained.model, written);
  const candidate = await heldOutMetrics(input.outDir, groups, input.reducerDefaults, catalog.length);
  const live = await heldOutMetrics(input.liveModelDir, groups, input.reducerDefaults, catalog.length);
  // The held-out numbers go into the manifest, as `attune train` records its validation numbers.
  const heldOut = Object.fromEntries(Object.entries(candidate.metrics).map(([name, value]) => [`holdout.${name}`, value]));
  const manifest = await writeBundle(input.outDir, trained.model, { ...written, metrics: heldOut, createdAt: new Date(candidateManifest.createdAt) });
  return {
    manifest,
    candidateDir: input.outDir,
    candidate: candidate.metrics,
    live: live.metrics,
    liveVersion: live.version,
    cases: caseCount(groups),
    trainSessions: split.train.length,
    holdoutSessions: split.holdout.length,
    window: { from, to },
    seconds: (performance.now() - started) / 1000,
  };
}

async function heldOutMetrics(dir: string, groups: readonly CaseGroup[], reducerDefaults: ReducerConfig, catalogSize: number): Promise<{ version: string; metrics: Record<string, number> }> {
  const scorer = await Scorer.load(dir, { timeoutMs: 600_000, maxBatch: 64, intraOpThreads: 1 });
  try {
    const { reducer } = servingModel(scorer, reducerDefaults);
    return { version: scorer.manifest.version, metrics: await metricsWithScorer(scorer, groups, reducer, SESSION_METRICS, false, catalogSize) };
  } finally {
    await scorer.close();
  }
}
