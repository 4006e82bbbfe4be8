import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReducerConfig } from '../session/state.js';
import { toModelInput } from '../model/recommend.js';
import { Scorer } from '../model/scorer.js';
import { writeBundle } from './bundle-writer.js';
import { MetricAccumulator, deepestK, rankOf, type MetricSpec } from './eval-metrics.js';
import { caseCount, replayPrefixes, type CaseGroup, type Log } from './eval-cases.js';
import { bundleMeta, type TrainedModel } from './trained-model.js';

// Scoring through the serving path, as reported numbers are: history -> log entries -> reduce ->
// toModelInput -> the ONNX bundle loaded by Scorer.

export interface ScoredCaseVisitor {
  (list: readonly string[], target: string, history: ReadonlySet<string>): void;
}

/**
 * Scores every case through the serving path and hands each case's top `listLength` list (after
 * excluding history items when `exclude`) to `visit`, in case order. A state without items is
 * answered with the bundle's popular items, as the server does on a cold start.
 */
export async function scoreWithScorer(
  scorer: Scorer,
  groups: readonly CaseGroup[],
  config: ReducerConfig,
  options: { listLength: number; exclude: boolean; onProgress?: (done: number, total: number) => void },
  visit: ScoredCaseVisitor,
): Promise<void> {
  const total = caseCount(groups);
  let done = 0;
  type Pending = { result: Promise<{ itemId: string }[]> | { itemId: string }[]; target: string; history: Set<string> };
  let pending: Pending[] = [];
  const drain = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    const results = await Promise.all(batch.map((p) => p.result));
    batch.forEach(({ target, history }, c) => {
      const list: string[] = [];
      for (const { itemId } of results[c]) {
        if (options.exclude && history.has(itemId)) continue;
        list.push(itemId);
        if (list.length === options.listLength) break;
      }
      visit(list, target, history);
    });
    done += batch.length;
    options.onProgress?.(done, total);
  };
  for (const group of groups) {
    const history = new Set<string>();
    let seen = 0;
    const cases: Pending[] = [];
    replayPrefixes(group, config, (index, state) => {
      const prefix = group.prefixes[index];
      for (; seen < prefix; seen++) history.add(group.events[seen].itemId);
      const snapshot = new Set(history);
      const k = Math.min(scorer.itemCount, options.listLength + (options.exclude ? snapshot.size : 0));
      const result = state.itemSums.length === 0 ? scorer.popular(k) : scorer.score(toModelInput(state), k);
      cases.push({ result, target: group.events[prefix].itemId, history: snapshot });
    });
    pending.push(...cases);
    if (pending.length >= 256) await drain();
  }
  if (pending.length > 0) await drain();
}

export async function metricsWithScorer(
  scorer: Scorer,
  groups: readonly CaseGroup[],
  config: ReducerConfig,
  spec: MetricSpec,
  exclude: boolean,
  catalogSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Record<string, number>> {
  const metrics = new MetricAccumulator(spec, catalogSize);
  await scoreWithScorer(scorer, groups, config, { listLength: deepestK(spec), exclude, onProgress }, (list, target) =>
    metrics.add(rankOf(list, target), list),
  );
  return metrics.result();
}

/** Writes the model to a temporary bundle, loads it with Scorer, runs `use`, cleans up. */
export async function withScorer<T>(trained: TrainedModel, use: (scorer: Scorer) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'attune-eval-'));
  try {
    await writeBundle(dir, trained.model, bundleMeta(trained));
    const scorer = await Scorer.load(dir, { timeoutMs: 600_000, maxBatch: 64, intraOpThreads: 1 });
    try {
      return await use(scorer);
    } finally {
      await scorer.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Logs scoring progress about every fifth of the cases. */
export function progressLogger(log: Log, what: string): (done: number, total: number) => void {
  let next = 0;
  return (done, total) => {
    if (done >= next || done === total) {
      log(`${what}: ${done}/${total} cases`);
      next = done + Math.max(1, Math.ceil(total / 5));
    }
  };
}
