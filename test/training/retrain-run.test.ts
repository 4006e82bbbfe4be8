import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readBundle } from '../../src/model/bundle.js';
import type { Interaction } from '../../src/model/types.js';
import { defaultReducerConfig } from '../../src/session/state.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { gateDecision } from '../../src/training/retrain-gate.js';
import { holdoutSplit, RetrainDataError } from '../../src/training/retrain-run.js';
import { RetrainBudgetError, RetrainFailedError, retrainInThread } from '../../src/training/retrain-thread.js';
import { bundleMeta } from '../../src/training/trained-model.js';
import { trainForData } from '../../src/training/train-for-data.js';
import { userHistories } from '../../src/training/trainer.js';
import { ringSessions } from '../support/retrain-data.js';

const lineage = { firstEventId: '1-0', lastEventId: '9-3', parentVersion: 'item-item-parent' };
const at = (userId: string, timestamp: number): Interaction => ({ userId, itemId: 'x', timestamp, eventType: 'view' });

t.test('the held-out sessions are the latest by their first event, ties by id', async (t) => {
  const histories = userHistories([at('a', 50), at('b', 10), at('c', 40), at('d', 40), at('e', 20), at('a', 5)]);
  const split = holdoutSplit(histories, 0.4);
  t.strictSame(split.train.map((h) => h.userId), ['a', 'b', 'e']);
  t.strictSame(split.holdout.map((h) => h.userId), ['c', 'd']);
  t.strictSame(holdoutSplit(histories.slice(0, 2), 0.1).holdout.map((h) => h.userId), ['b'], 'at least one is held out (b starts after a)');
  t.strictSame(holdoutSplit(histories.slice(0, 2), 0.9).train.map((h) => h.userId), ['a'], 'at least one trains');
  t.throws(() => holdoutSplit(histories.slice(0, 1), 0.1), RetrainDataError);
  t.throws(() => holdoutSplit(histories, 0), RangeError);
});

t.test('a run in a worker thread trains a candidate and scores it beside the live model on the held-out sessions', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'attune-retrain-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The live model knows step 7; the log's older sessions step by 1 and its latest 30 by 7.
  const liveData = ringSessions({ sessions: 300, step: 7, prefix: 'old' });
  const live = await trainForData(liveData, { protocol: 'leave-one-out', tuneHalfLife: false, embeddings: false, budgetMs: 2000 });
  await writeBundle(join(dir, 'live'), live.model, bundleMeta(live));
  const log = [...ringSessions({ sessions: 270, step: 1 }), ...ringSessions({ sessions: 30, step: 7, prefix: 'new', startAt: 1_800_000_000_000 })];
  const logged: string[] = [];
  const thread = retrainInThread(
    { interactions: log, liveModelDir: join(dir, 'live'), outDir: join(dir, 'candidate'), holdout: 0.1, trainBudgetMs: 3000, reducerDefaults: defaultReducerConfig, lineage },
    { budgetMs: 300_000, log: (message) => logged.push(message) },
  );
  const outcome = await thread.result;
  t.equal(outcome.trainSessions, 270);
  t.equal(outcome.holdoutSessions, 30);
  t.equal(outcome.cases, 30 * 5, 'every next click of the held-out sessions');
  t.strictSame(outcome.window, { from: 1_700_000_000_000, to: 1_700_000_000_000 + 269 * 60_000 + 5000 }, 'trained on the older sessions only');
  t.equal(outcome.liveVersion, (await readBundle(join(dir, 'live'))).manifest.version);
  t.strictSame((await readBundle(join(dir, 'candidate'))).manifest, outcome.manifest, 'the candidate bundle is written');
  t.strictSame(outcome.manifest.metrics, { 'holdout.HR@20': outcome.candidate['HR@20'], 'holdout.MRR@20': outcome.candidate['MRR@20'] }, 'its manifest records its held-out metrics');
  t.strictSame(outcome.manifest.lineage, { source: 'event log', rows: 1620, ...lineage }, 'and its lineage');
  t.match(outcome.manifest.parameters, { dataset: 'event log', heldOutShare: 0.1, trainedFrom: new Date(1_700_000_000_000).toISOString(), trainedTo: new Date(1_700_000_000_000 + 269 * 60_000 + 5000).toISOString() });
  t.strictSame(Object.keys(outcome.candidate).sort(), ['HR@20', 'MRR@20']);
  t.ok(outcome.live['HR@20'] > outcome.candidate['HR@20'] + 0.5, `the live model knows the latest sessions' step (live ${outcome.live['HR@20']}, candidate ${outcome.candidate['HR@20']})`);
  t.equal(gateDecision({ candidate: outcome.candidate, live: outcome.live, cases: outcome.cases, margin: 0.01 }).promote, false, 'so the gate refuses the candidate');
  t.match(logged[0], /^retrain: 1620 interactions in 270 sessions to train on, 30 sessions \(150 cases\) held out$/);
});

t.test('a run past its budget is stopped', async (t) => {
  const thread = retrainInThread(
    { interactions: ringSessions({ sessions: 300, step: 1 }), liveModelDir: '/nonexistent', outDir: '/nonexistent', holdout: 0.1, trainBudgetMs: 3000, reducerDefaults: defaultReducerConfig, lineage },
    { budgetMs: 1 },
  );
  await t.rejects(thread.result, RetrainBudgetError);
});

t.test('a run that cannot train fails with the reason', async (t) => {
  const thread = retrainInThread(
    { interactions: ringSessions({ sessions: 20, step: 1 }), liveModelDir: '/nonexistent', outDir: '/nonexistent', holdout: 0.1, trainBudgetMs: 3000, reducerDefaults: defaultReducerConfig, lineage },
    { budgetMs: 300_000 },
  );
  await t.rejects(thread.result, new RetrainFailedError('InsufficientDataError', '108 interactions; training needs at least 1000'));
});
