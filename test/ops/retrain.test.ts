import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readBundle } from '../../src/model/bundle.js';
import type { Interaction } from '../../src/model/types.js';
import type { RetrainJob } from '../../src/ops/retrain-jobs.js';
import type { RunningServer } from '../../src/server/start.js';
import { RESERVED_LEASES } from '../../src/store/leases.js';
import type { Stores } from '../../src/store/types.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { bundleMeta } from '../../src/training/trained-model.js';
import { trainForData } from '../../src/training/train-for-data.js';
import { authHeaders, demoModelDir, startLocalServer, testSecurity, waitFor } from '../helpers.js';
import { ringSessions } from '../support/retrain-data.js';

/** The interactions as the log holds them: each session's events under its session key. */
async function appendToLog(stores: Stores, interactions: readonly Interaction[]): Promise<void> {
  for (const x of interactions) {
    await stores.log.append(`s:${x.userId}`, { kind: 'interaction', sessionId: x.userId, eventType: x.eventType, itemId: x.itemId, sentAt: x.timestamp, receivedAt: x.timestamp });
  }
}

async function api(server: RunningServer, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...authHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function finished(server: RunningServer, jobId: string): Promise<RetrainJob> {
  let job: RetrainJob | null = null;
  await waitFor(`retraining ${jobId} to finish`, () => (job = server.retrain.get(jobId))?.status !== 'running', 120_000);
  if (job === null) throw new Error(`no job ${jobId}`);
  return job;
}

async function auditOf(stores: Stores, jobId: string): Promise<Array<{ action: string; actor: string; target: string; outcome: string; detail: Record<string, string | number | boolean> }>> {
  const entries = await stores.audit.read({ limit: 100 });
  return entries
    .filter((entry) => entry.detail?.jobId === jobId)
    .reverse()
    .map(({ action, actor, target, outcome, detail }) => ({ action, actor, target, outcome, detail: detail ?? {} }));
}

t.test('POST /v1/admin/models/retrain: a run trains on the log, registers the candidate with its lineage and promotes it past the gate', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'attune-retrain-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startLocalServer({ dataDir, security: testSecurity, retrain: { everyMs: 0, budgetS: 120 } });
  t.teardown(() => server.close());
  const liveVersion = server.model.manifest.version;
  await appendToLog(server.stores, ringSessions({ sessions: 300, step: 1 }));

  // While another node runs retraining, this one refuses to start a second run.
  const other = await server.stores.leases.acquire(RESERVED_LEASES.retrainRun, 'other-node', 60_000);
  t.ok(other !== null);
  const busy = await api(server, 'POST', '/v1/admin/models/retrain');
  t.equal(busy.status, 409);
  t.strictSame(busy.body, { error: { code: 'ATTUNE_ERR_RETRAIN_RUNNING', message: 'a retraining run is going on node other-node: one run at a time; try again when it has finished' } });
  await server.stores.leases.release(RESERVED_LEASES.retrainRun, 'other-node', other?.epoch ?? 0);

  const started = await api(server, 'POST', '/v1/admin/models/retrain');
  t.equal(started.status, 202);
  t.match(started.body, { trigger: 'request', status: 'running', liveVersion, nodeId: server.nodeId });
  const jobId = String(started.body.jobId);
  const again = await api(server, 'POST', '/v1/admin/models/retrain');
  t.equal(again.status, 409, 'one run at a time');
  t.match(again.body, { error: { code: 'ATTUNE_ERR_RETRAIN_RUNNING' } });

  const job = await finished(server, jobId);
  t.equal(job.status, 'promoted', job.error ?? '');
  const version = job.candidateVersion ?? '';
  t.equal(server.model.manifest.version, version, 'the node serves the promoted model');
  t.equal(job.gate?.promote, true);
  t.ok(job.metrics !== null && job.metrics.candidate['HR@20'] > job.metrics.live['HR@20'], 'the demo model knows none of the log\'s items: the candidate beats it');
  t.equal(job.metrics?.cases, 30 * 5);

  const entry = await server.stores.models.get(version);
  const manifest = (await readBundle(join(dataDir, 'models', jobId))).manifest;
  t.match(entry, { version, state: 'live', dir: join(dataDir, 'models', jobId), previousLive: liveVersion });
  t.strictSame(entry?.lineage, {
    dataHash: manifest.trainingDataHash,
    parentVersion: liveVersion,
    source: 'event log',
    firstEventId: manifest.lineage?.firstEventId,
    lastEventId: manifest.lineage?.lastEventId,
    rows: 270 * 6,
    trainedAt: manifest.createdAt,
    parameters: manifest.parameters,
  }, 'registered with its lineage: parent, the log window read, the data hash');
  t.ok(manifest.lineage?.firstEventId !== null && manifest.lineage?.lastEventId !== null);
  t.strictSame(entry?.metrics, { 'holdout.HR@20': job.metrics?.candidate['HR@20'], 'holdout.MRR@20': job.metrics?.candidate['MRR@20'] });

  const audit = await auditOf(server.stores, jobId);
  t.strictSame(audit.map((e) => `${e.action} ${e.outcome}`), ['retrain.started ok', 'retrain.trained ok', 'retrain.promoted ok']);
  t.ok(audit.every((e) => e.actor === 'master'), 'the key that asked is the actor');
  t.match(audit[1], { target: version, detail: { parentVersion: liveVersion, trainSessions: 270, holdoutSessions: 30, cases: 150, dataHash: manifest.trainingDataHash } });
  t.match(audit[2], {
    target: version,
    detail: { 'candidate.HR@20': job.metrics?.candidate['HR@20'], 'live.HR@20': job.metrics?.live['HR@20'], 'candidate.MRR@20': job.metrics?.candidate['MRR@20'], 'live.MRR@20': job.metrics?.live['MRR@20'], gateMetric: 'HR@20', margin: 0.01, previousVersion: liveVersion },
  });

  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /attune_retrain_runs_total\{outcome="promoted"\} 1\n/);
  t.match(metrics, /attune_retrain_runs_total\{outcome="refused"\} 0\n/);
  t.match(metrics, /attune_retrain_last_run_timestamp_seconds \d+/);
  t.match((await api(server, 'GET', `/v1/admin/models/retrain/${jobId}`)).body, { jobId, status: 'promoted', candidateVersion: version });
  t.match((await api(server, 'GET', '/v1/admin/models/retrain')).body, { leader: true, jobs: [{ jobId }] });
  t.equal((await api(server, 'GET', '/v1/admin/models/retrain/nope')).status, 404);
});

t.test('a scheduled run after --retrain-after-events: a deliberately worse candidate is refused, with both metrics audited', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'attune-retrain-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  // The live model knows the step the latest sessions take (7); the log's older sessions step by 1,
  // so a candidate trained on them is worse on the held-out (latest) sessions.
  const live = await trainForData(ringSessions({ sessions: 300, step: 7, prefix: 'old' }), { protocol: 'leave-one-out', tuneHalfLife: false, embeddings: false, budgetMs: 2000 });
  await writeBundle(join(dataDir, 'live'), live.model, bundleMeta(live));
  const server = await startLocalServer({ dataDir, modelDir: join(dataDir, 'live'), demoCatalog: false, security: testSecurity, retrain: { everyMs: 0, afterEvents: 3, budgetS: 120 } });
  t.teardown(() => server.close());
  const liveVersion = server.model.manifest.version;
  await appendToLog(server.stores, [...ringSessions({ sessions: 270, step: 1 }), ...ringSessions({ sessions: 29, step: 7, prefix: 'new', startAt: 1_800_000_000_000 })]);
  t.strictSame(server.retrain.list(), [], 'nothing runs before the events come in');

  // Three events through the API: the third is the one that makes the run due.
  const put = await api(server, 'POST', '/v1/events', { sessionId: 'latest', eventList: [0, 7, 14].map((n) => ({ eventType: 'view', itemId: `r${n}` })) });
  t.equal(put.status, 200, JSON.stringify(put.body));
  await waitFor('a scheduled run', () => server.retrain.list().length > 0, 30_000);
  const [scheduled] = server.retrain.list();
  t.equal(scheduled.trigger, 'events');
  const job = await finished(server, scheduled.jobId);
  t.equal(job.status, 'refused', job.error ?? '');
  t.equal(server.model.manifest.version, liveVersion, 'the live model stays');
  const candidate = job.metrics?.candidate['HR@20'] ?? Number.NaN;
  const liveHr = job.metrics?.live['HR@20'] ?? Number.NaN;
  t.ok(liveHr - candidate > 0.01, `worse by more than the margin (live ${liveHr}, candidate ${candidate})`);
  t.match(await server.stores.models.get(job.candidateVersion ?? ''), { state: 'retired', lineage: { parentVersion: liveVersion, source: 'event log' } }, 'the candidate is registered and put aside');

  const audit = await auditOf(server.stores, job.jobId);
  t.strictSame(audit.map((e) => `${e.action} ${e.outcome}`), ['retrain.started ok', 'retrain.trained ok', 'retrain.refused ok']);
  t.equal(audit[0].actor, `node:${server.nodeId}`, 'a scheduled run is the node\'s');
  t.match(audit[2].detail, { trigger: 'events', 'candidate.HR@20': candidate, 'live.HR@20': liveHr, liveVersion, gateMetric: 'HR@20', margin: 0.01, reason: /^HR@20 .* worse by .*, more than the margin 0.01$/ });
  t.match(await (await fetch(`${server.url}/metrics`)).text(), /attune_retrain_runs_total\{outcome="refused"\} 1\n/);
});

t.test('a run that cannot train fails, and says why', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'attune-retrain-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startLocalServer({ dataDir, modelDir: await demoModelDir(), security: testSecurity, retrain: { everyMs: 0 } });
  t.teardown(() => server.close());
  await appendToLog(server.stores, ringSessions({ sessions: 10, step: 1 }));
  const started = await api(server, 'POST', '/v1/admin/models/retrain');
  t.equal(started.status, 202);
  const job = await finished(server, String(started.body.jobId));
  t.match(job, { status: 'failed', error: '54 interactions; training needs at least 1000', candidateVersion: null });
  const audit = await auditOf(server.stores, job.jobId);
  t.strictSame(audit.map((e) => `${e.action} ${e.outcome}`), ['retrain.started ok', 'retrain.failed failed']);
  t.match(audit[1].detail, { reason: '54 interactions; training needs at least 1000' });
  t.match(await (await fetch(`${server.url}/metrics`)).text(), /attune_retrain_runs_total\{outcome="failed"\} 1\n/);
  t.equal((await api(server, 'POST', '/v1/admin/models/retrain')).status, 202, 'and the next run may start');
});
