import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { demoInteractions } from '../../src/demo/catalog.js';
import { armOf, type Arm } from '../../src/lib/experiment.js';
import type { RunningServer } from '../../src/server/start.js';
import { sessionKey } from '../../src/session/events.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor, type TestClient } from '../helpers.js';

/** A second bundle beside the demo model: the same data, other parameters, so another version. */
async function candidateBundle(t: Test): Promise<{ dir: string; version: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'attune-candidate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { version } = await writeBundle(dir, trainItemItem(demoInteractions(), { neighbours: 8, window: 2 }));
  return { dir, version };
}

/** The first `count` session ids of the form `${prefix}-N` whose key falls in `arm`. */
function sessionsIn(arm: Arm, salt: string, share: number, prefix: string, count: number): string[] {
  const found: string[] = [];
  for (let i = 0; found.length < count; i++) if (armOf(sessionKey(`${prefix}-${i}`), salt, share) === arm) found.push(`${prefix}-${i}`);
  return found;
}

async function getJson(server: RunningServer, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { headers: authHeaders });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function metricValue(server: RunningServer, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Sends a view and waits for the push it caused. */
async function viewAndPush(client: TestClient, itemId: string) {
  const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId });
  return client.push((p) => p.cause?.eventId === ack.eventId);
}

t.test('each arm serves its own model: socket pushes, HTTP lists, push records and replay name the arm', async (t) => {
  const candidate = await candidateBundle(t);
  const server = await startLocalServer({ security: testSecurity, experiment: { candidateShare: 0.5 }, candidateModelDir: candidate.dir });
  t.teardown(() => server.close());
  const live = server.model.manifest.version;
  t.not(candidate.version, live, 'two bundles, two versions');

  t.strictSame((await getJson(server, '/v1/admin/experiment')).body, {
    configuredShare: 0.5,
    running: true,
    salt: candidate.version,
    arms: [
      { arm: 'live', share: 0.5, modelVersion: live },
      { arm: 'candidate', share: 0.5, modelVersion: candidate.version },
    ],
    candidateDir: candidate.dir,
    problem: null,
  });

  const bySide = { live: sessionsIn('live', candidate.version, 0.5, 'exp', 2), candidate: sessionsIn('candidate', candidate.version, 0.5, 'exp', 2) };
  for (const arm of ['live', 'candidate'] as const) {
    const version = arm === 'live' ? live : candidate.version;
    for (const sessionId of bySide[arm]) {
      const client = await connectClient(server.url, { sessionId });
      t.teardown(() => client.close());
      const first = await client.push();
      t.strictSame([first.arm, first.modelVersion], [arm, version], `${sessionId}: the list on connect`);
      const pushed = await viewAndPush(client, 'books-001');
      t.strictSame([pushed.arm, pushed.modelVersion], [arm, version], `${sessionId}: the push after an event`);
      const recorded = await server.stores.pushes.read(sessionKey(sessionId));
      t.strictSame(recorded.map((p) => [p.arm, p.modelVersion]), [[arm, version]], `${sessionId}: the push record`);

      const list = (await getJson(server, `/v1/recommendations?sessionId=${sessionId}&numResults=5`)).body;
      t.strictSame([list.arm, list.modelVersion], [arm, version], `${sessionId}: GET /v1/recommendations`);
      const ranked = await fetch(`${server.url}/v1/personalize-ranking`, {
        method: 'POST',
        headers: { ...authHeaders, 'content-type': 'application/json' },
        body: JSON.stringify({ sessionId, inputList: ['books-002', 'coffee-003'] }),
      });
      const rankedBody = (await ranked.json()) as { arm: string; modelVersion: string };
      t.strictSame([rankedBody.arm, rankedBody.modelVersion], [arm, version], `${sessionId}: POST /v1/personalize-ranking`);

      const replay = (await getJson(server, `/v1/admin/replay?sessionId=${sessionId}`)).body as { modelVersion: string; steps: Array<{ recorded: { arm: string; modelVersion: string; matches: boolean } | null }> };
      t.equal(replay.modelVersion, version, `${sessionId}: replay runs the arm's model`);
      t.strictSame(replay.steps.map((s) => s.recorded), [{ items: recorded[0].items, modelVersion: version, arm, matches: true }], `${sessionId}: replay names the arm and reproduces the push`);
    }
  }
  const anonymous = (await getJson(server, '/v1/items/books-001/related?numResults=3')).body;
  t.equal(anonymous.arm, 'live', 'a list for no one is the live model\'s');

  t.equal(await metricValue(server, 'attune_experiment_arm_share{arm="candidate"}'), 0.5);
  t.equal(await metricValue(server, 'attune_experiment_arm_share{arm="live"}'), 0.5);
  t.equal(await metricValue(server, 'attune_pushes_total{arm="candidate"}'), 2);
  t.equal(await metricValue(server, 'attune_pushes_total{arm="live"}'), 2);
  t.equal(await metricValue(server, 'attune_recommendation_latency_seconds_count{route="recommendations",arm="candidate"}'), 2);
  t.equal(await metricValue(server, 'attune_experiment_candidate_load_failures_total'), 0);
  // Per arm: two sessions, each shown the list on connect, a push, an HTTP list and a ranking; the anonymous related list is live's.
  const online = (await getJson(server, '/v1/admin/online-metrics?since=0')).body as { byArm: Array<{ arm: string; lists: number }> };
  t.strictSame(online.byArm.map((row) => [row.arm, row.lists]).sort(), [['candidate', 8], ['live', 9]], 'the online metrics count each arm\'s lists');
});

t.test('when the candidate goes (promoted or retired), every list is served by live', async (t) => {
  const candidate = await candidateBundle(t);
  const server = await startLocalServer({ security: testSecurity, experiment: { candidateShare: 0.5 }, candidateModelDir: candidate.dir });
  t.teardown(() => server.close());
  const live = server.model.manifest.version;
  const [sessionId] = sessionsIn('candidate', candidate.version, 0.5, 'ending', 1);
  const client = await connectClient(server.url, { sessionId });
  t.teardown(() => client.close());
  t.equal((await viewAndPush(client, 'books-001')).arm, 'candidate', 'a candidate key, served by the candidate');

  await server.arms.clearCandidate();
  const after = await viewAndPush(client, 'coffee-003');
  t.strictSame([after.arm, after.modelVersion], ['live', live], 'its next push is live');
  const list = (await getJson(server, `/v1/recommendations?sessionId=${sessionId}`)).body;
  t.strictSame([list.arm, list.modelVersion], ['live', live], 'and its HTTP list');
  for (const id of sessionsIn('candidate', candidate.version, 0.5, 'others', 5)) {
    t.equal((await getJson(server, `/v1/recommendations?sessionId=${id}`)).body.arm, 'live', `${id}, a candidate key before: live`);
  }
  const view = (await getJson(server, '/v1/admin/experiment')).body;
  t.strictSame([view.running, view.arms], [false, [{ arm: 'live', share: 1, modelVersion: live }, { arm: 'candidate', share: 0, modelVersion: null }]]);
  t.equal(await metricValue(server, 'attune_experiment_arm_share{arm="candidate"}'), 0);
});

t.test('a candidate that cannot be loaded: everyone gets live, and /readyz and the metrics say so', async (t) => {
  const missing = join(tmpdir(), 'attune-no-such-candidate');
  const server = await startLocalServer({ security: testSecurity, experiment: { candidateShare: 0.5 }, candidateModelDir: missing });
  t.teardown(() => server.close());
  const live = server.model.manifest.version;

  const ready = await getJson(server, '/readyz');
  t.equal(ready.status, 200, 'the node still serves: it is ready');
  const experiment = ready.body.experiment as { running: boolean; candidateVersion: string | null; problem: string };
  t.strictSame([experiment.running, experiment.candidateVersion], [false, null]);
  t.match(experiment.problem, `the candidate bundle ${missing} failed to load`);
  t.equal(await metricValue(server, 'attune_experiment_candidate_load_failures_total'), 1);
  t.equal(await metricValue(server, 'attune_experiment_arm_share{arm="candidate"}'), 0);
  t.equal(await metricValue(server, 'attune_experiment_arm_share{arm="live"}'), 1);
  t.match((await getJson(server, '/v1/admin/experiment')).body, { running: false, problem: experiment.problem });

  const arms = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const list = (await getJson(server, `/v1/recommendations?sessionId=failed-${i}`)).body;
    arms.add(`${String(list.arm)} ${String(list.modelVersion)}`);
  }
  t.strictSame([...arms], [`live ${live}`], 'every list is live');
  const client = await connectClient(server.url, { sessionId: 'failed-0' });
  t.teardown(() => client.close());
  await client.push();
  const pushed = await viewAndPush(client, 'books-001');
  t.strictSame([pushed.arm, pushed.modelVersion], ['live', live]);

  // A candidate that loads later starts the experiment: the failure is history.
  const candidate = await candidateBundle(t);
  await server.arms.setCandidate(candidate.dir);
  t.match((await getJson(server, '/readyz')).body.experiment, { running: true, candidateVersion: candidate.version, problem: null });
});

t.test('no experiment: /readyz and lists as before, every list live', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  t.strictSame((await getJson(server, '/readyz')).body, { status: 'ready', modelVersion: server.model.manifest.version });
  t.equal((await getJson(server, '/v1/recommendations?sessionId=plain')).body.arm, 'live');
  t.match((await getJson(server, '/v1/admin/experiment')).body, { configuredShare: null, running: false, problem: null });
});

async function postJson(server: RunningServer, path: string, body: unknown = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A server in an experiment that follows the registry, with a candidate registered and serving its share. */
async function registryExperiment(t: Test) {
  const candidate = await candidateBundle(t);
  const server = await startLocalServer({ security: testSecurity, experiment: { candidateShare: 0.5 } });
  t.teardown(() => server.close());
  const live = server.model.manifest.version;
  t.equal((await getJson(server, '/v1/admin/experiment')).body.running, false, 'no candidate registered yet: no split');
  t.equal((await postJson(server, '/v1/admin/models', { dir: candidate.dir })).status, 201);
  await waitFor('the registered candidate serving its share', () => server.arms.candidateVersion === candidate.version);
  const candidateKeys = sessionsIn('candidate', candidate.version, 0.5, 'reg', 3);
  const clients: TestClient[] = [];
  for (const sessionId of candidateKeys) {
    const client = await connectClient(server.url, { sessionId });
    t.teardown(() => client.close());
    t.strictSame([(await client.push()).arm, (await viewAndPush(client, 'books-001')).modelVersion], ['candidate', candidate.version], `${sessionId}: the candidate's`);
    clients.push(client);
  }
  return { server, live, candidate, candidateKeys, clients };
}

/** Every list of these keys, pushed and fetched, is the live arm's and names `version`. */
async function allLive(t: Test, server: RunningServer, keys: readonly string[], clients: readonly TestClient[], version: string): Promise<void> {
  for (const client of clients) {
    const pushed = await viewAndPush(client, 'coffee-003');
    t.strictSame([pushed.arm, pushed.modelVersion], ['live', version], 'the next push');
  }
  for (const sessionId of [...keys, ...sessionsIn('candidate', 'any-salt', 0.5, 'more', 5)]) {
    const list = (await getJson(server, `/v1/recommendations?sessionId=${sessionId}`)).body;
    t.strictSame([list.arm, list.modelVersion], ['live', version], `${sessionId}: GET /v1/recommendations`);
  }
  t.match((await getJson(server, '/v1/admin/experiment')).body, { running: false, arms: [{ arm: 'live', share: 1, modelVersion: version }, { arm: 'candidate', share: 0 }] });
}

t.test('the candidate arm follows the registry: promoting the candidate ends the experiment, every list live on the new version', async (t) => {
  const { server, candidate, candidateKeys, clients } = await registryExperiment(t);
  t.equal((await postJson(server, `/v1/admin/models/${candidate.version}/promote`)).status, 200);
  await waitFor('the experiment ended', () => server.arms.candidateVersion === null);
  t.equal(server.model.manifest.version, candidate.version, 'the candidate is the live model now');
  await allLive(t, server, candidateKeys, clients, candidate.version);
});

t.test('retiring the candidate ends the experiment: every list live on the live version', async (t) => {
  const { server, live, candidate, candidateKeys, clients } = await registryExperiment(t);
  t.equal((await postJson(server, `/v1/admin/models/${candidate.version}/retire`)).status, 200);
  await waitFor('the experiment ended', () => server.arms.candidateVersion === null);
  t.equal(server.model.manifest.version, live, 'the live model stays');
  await allLive(t, server, candidateKeys, clients, live);
});

t.test('a registry candidate whose bundle cannot be loaded: everyone live, /readyz and the metrics say so', async (t) => {
  const candidate = await candidateBundle(t);
  // Its manifest reads (so it registers) but its ONNX graph does not load.
  await writeFile(join(candidate.dir, 'model.onnx'), 'not an onnx graph');
  const server = await startLocalServer({ security: testSecurity, experiment: { candidateShare: 0.5 } });
  t.teardown(() => server.close());
  const live = server.model.manifest.version;
  t.equal((await postJson(server, '/v1/admin/models', { dir: candidate.dir })).status, 201);
  await waitFor('the failure counted', async () => (await metricValue(server, 'attune_experiment_candidate_load_failures_total')) === 1);
  t.equal(server.arms.candidateVersion, null, 'no candidate serves');
  t.match((await getJson(server, '/readyz')).body, { status: 'ready', modelVersion: live, experiment: { running: false, candidateVersion: null, problem: `the candidate bundle ${candidate.dir} failed to load` } });
  t.equal(await metricValue(server, 'attune_experiment_arm_share{arm="candidate"}'), 0);
  for (const sessionId of sessionsIn('candidate', candidate.version, 0.5, 'broken', 5)) {
    const list = (await getJson(server, `/v1/recommendations?sessionId=${sessionId}`)).body;
    t.strictSame([list.arm, list.modelVersion], ['live', live], `${sessionId}, a candidate key: live`);
  }
});
