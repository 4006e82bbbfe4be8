import t from 'tap';
import { runModels } from '../../src/cli/models.js';
import type { NodeProcess } from '../../scripts/harness/nodes.js';
import { authHeaders, capture, connectClient, waitFor, type TestClient } from '../helpers.js';
import { diagnostics, startBalancedCluster } from '../support/cluster-nodes.js';
import { demoBundle, unloadableBundle } from '../support/model-bundles.js';

/*
 * Issue 13 point 2: three node processes on one Redis follow the model registry. A promote made
 * through one node reaches every node, and every push after it names the new version; a rollback
 * too; a live version whose bundle does not load leaves each node serving the old one, ready, and
 * saying so in /readyz, its metrics and its log.
 */

const SHARDS = 16;
/** Well past a bus message and a poll (--model-poll-ms 3000): how long a change may take to reach a node. */
const FOLLOW_TIMEOUT_MS = 20_000;

interface Readiness {
  http: number;
  status?: string;
  modelVersion?: string;
  wantedModelVersion?: string;
  modelLoadError?: string;
}

async function readiness(node: NodeProcess): Promise<Readiness> {
  const response = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(3000) });
  return { http: response.status, ...((await response.json()) as Omit<Readiness, 'http'>) };
}

async function loadFailures(node: NodeProcess): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('attune_model_load_failures_total '));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

t.test('three nodes follow the registry: promote and rollback through one node reach all, pushes name the version, an unloadable version leaves the old one serving', async (t) => {
  const { nodes, redisUrl } = await startBalancedCluster(t, ['reg-a', 'reg-b', 'reg-c'], { shards: SHARDS, leaseTtlMs: 1000 });
  t.teardown(() => {
    if (t.passing()) return;
    for (const line of diagnostics(nodes)) t.comment(line);
  });
  const second = await demoBundle(t, 3);
  const broken = await unloadableBundle(t);
  const admin = async (node: NodeProcess, path: string, body?: unknown) => {
    const response = await fetch(`${node.url}${path}`, { method: 'POST', headers: { ...authHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const everyNode = (what: string, check: (r: Readiness) => boolean) =>
    waitFor(what, async () => (await Promise.all(nodes.map(readiness))).every(check), FOLLOW_TIMEOUT_MS);

  const first = (await readiness(nodes[0])).modelVersion;
  if (first === undefined) throw new Error('no model version in /readyz');
  t.strictSame(await Promise.all(nodes.map(readiness)), nodes.map(() => ({ http: 200, status: 'ready', modelVersion: first })), 'every node serves the bundle it started with');
  const listed = await (await fetch(`${nodes[2].url}/v1/admin/models`, { headers: authHeaders })).json() as { live: string; models: Array<{ version: string; state: string }> };
  t.match(listed, { live: first, models: [{ version: first, state: 'live' }] }, 'the first node registered and promoted it; the others found it live');
  t.equal(listed.models.length, 1);

  // One socket per node; every node has sessions to push to.
  const clients: TestClient[] = [];
  for (const [i, node] of nodes.entries()) clients.push(await connectClient(node.url, { sessionId: `registry-${process.pid}-${i}` }));
  t.teardown(() => clients.forEach((c) => c.close()));
  let viewed = 0;
  /** Each client sends one view; resolves with the push each got for it. */
  const pushRound = async () =>
    Promise.all(
      clients.map(async (client) => {
        const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId: `books-00${(viewed++ % 9) + 1}` });
        if (!ack.ok) throw new Error(`event refused: ${JSON.stringify(ack)}`);
        return client.push((p) => p.cause?.eventId === ack.eventId);
      }),
    );
  t.strictSame((await pushRound()).map((p) => p.modelVersion), [first, first, first]);

  // Register and promote through node a.
  t.equal((await admin(nodes[0], '/v1/admin/models', { dir: second.dir })).status, 201);
  const promoted = await admin(nodes[0], `/v1/admin/models/${second.manifest.version}/promote`);
  t.match(promoted, { status: 200, body: { live: { version: second.manifest.version }, previous: { version: first }, nodeModelVersion: second.manifest.version } });
  await everyNode('every node to serve the promoted version', (r) => r.modelVersion === second.manifest.version);
  const afterPromote = clients.map((c) => c.pushes.length);
  for (let round = 0; round < 3; round++) await pushRound();
  const pushedAfterPromote = clients.flatMap((c, i) => c.pushes.slice(afterPromote[i]));
  t.ok(pushedAfterPromote.length >= 9, `${pushedAfterPromote.length} pushes after the promote`);
  t.strictSame([...new Set(pushedAfterPromote.map((p) => p.modelVersion))], [second.manifest.version], 'every push after it names the new version');

  // Roll back through node b.
  t.match(await admin(nodes[1], '/v1/admin/models/rollback'), { status: 200, body: { live: { version: first }, previous: { version: second.manifest.version } } });
  await everyNode('every node to serve the version rolled back to', (r) => r.modelVersion === first);
  const afterRollback = clients.map((c) => c.pushes.length);
  for (let round = 0; round < 2; round++) await pushRound();
  t.strictSame([...new Set(clients.flatMap((c, i) => c.pushes.slice(afterRollback[i])).map((p) => p.modelVersion))], [first], 'every push after the rollback names the old version');

  // A version no node can load, promoted from the CLI (which does not load bundles).
  const cli = ['--redis', redisUrl, '--shards', String(SHARDS)];
  t.equal((await capture(() => runModels(['register', broken.dir, ...cli]))).code, 0);
  const promotedBroken = await capture(() => runModels(['promote', broken.manifest.version, ...cli]));
  t.equal(promotedBroken.code, 0, promotedBroken.stderr);
  await everyNode('every node to report that it cannot load the live version', (r) => r.wantedModelVersion === broken.manifest.version);
  for (const node of nodes) {
    const ready = await readiness(node);
    t.match(ready, { http: 200, status: 'ready', modelVersion: first, wantedModelVersion: broken.manifest.version, modelLoadError: /\S/ }, `${node.nodeId} is ready, serves the old model and says why not the new one`);
    t.ok((await loadFailures(node)) >= 1, `${node.nodeId} counted the failure`);
    t.ok(node.problems().some((line) => line.includes(`the registry's live model ${broken.manifest.version} did not load: still serving ${first}`)), `${node.nodeId} logged it`);
  }
  t.strictSame([...new Set((await pushRound()).map((p) => p.modelVersion))], [first], 'pushes go on with the old version');

  // Promoting a good version from the CLI clears it everywhere.
  t.equal((await capture(() => runModels(['promote', second.manifest.version, ...cli]))).code, 0);
  await everyNode('every node to serve the good version again', (r) => r.modelVersion === second.manifest.version && r.wantedModelVersion === undefined);
  t.strictSame(await Promise.all(nodes.map(readiness)), nodes.map(() => ({ http: 200, status: 'ready', modelVersion: second.manifest.version })), 'nothing more to say');
  t.strictSame([...new Set((await pushRound()).map((p) => p.modelVersion))], [second.manifest.version]);
});
