import t from 'tap';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { runModels } from '../../src/cli/models.js';
import { armOf } from '../../src/lib/experiment.js';
import type { RunningServer } from '../../src/server/start.js';
import { sessionKey } from '../../src/session/events.js';
import { authHeaders, capture, connectClient, startLocalServer, testSecurity, waitFor, type TestClient } from '../helpers.js';
import { demoBundle } from '../support/model-bundles.js';

/** The first `count` sessions `${prefix}-N` that the candidate `salt` serves at 50%. */
function candidateSessions(salt: string, prefix: string, count: number): string[] {
  const found: string[] = [];
  for (let i = 0; found.length < count; i++) if (armOf(sessionKey(`${prefix}-${i}`), salt, 0.5) === 'candidate') found.push(`${prefix}-${i}`);
  return found;
}

async function listOf(server: RunningServer, sessionId: string): Promise<{ arm: string; modelVersion: string }> {
  return (await (await fetch(`${server.url}/v1/recommendations?sessionId=${sessionId}`, { headers: authHeaders })).json()) as { arm: string; modelVersion: string };
}

async function viewAndPush(client: TestClient, itemId: string) {
  const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId });
  return client.push((p) => p.cause?.eventId === ack.eventId);
}

t.test('attune models retire / promote end an experiment: every list after it is served by live', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const server = await startLocalServer({ security: testSecurity, redis: { url: redis.url }, cluster: { nodeId: 'experiment', shardCount: 8, leaseTtlMs: 500 }, experiment: { candidateShare: 0.5 } });
  t.teardown(() => server.close());
  // Events reach an actor, and so a push, once the node holds its shards' leases.
  await waitFor('every shard owned', () => server.ownership?.ownedShards().length === 8, 10_000);
  const cli = (...args: string[]) => capture(() => runModels([...args, '--redis', redis.url]));
  const live = server.model.manifest.version;

  /** Registers a candidate from the CLI and returns a connected socket of a key it serves. */
  const startExperiment = async (window: number, prefix: string) => {
    const bundle = await demoBundle(t, window);
    const version = bundle.manifest.version;
    t.equal((await cli('register', bundle.dir)).code, 0);
    await waitFor(`the candidate ${version} serving`, () => server.arms.candidateVersion === version);
    const [sessionId] = candidateSessions(version, prefix, 1);
    const client = await connectClient(server.url, { sessionId });
    t.teardown(() => client.close());
    await client.push();
    t.strictSame([(await viewAndPush(client, 'books-001')).arm, (await listOf(server, sessionId)).arm], ['candidate', 'candidate'], `${sessionId}: the candidate's`);
    return { version, sessionId, client };
  };
  const everyListLive = async (sessionIds: readonly string[], client: TestClient, version: string) => {
    const pushed = await viewAndPush(client, 'coffee-003');
    t.strictSame([pushed.arm, pushed.modelVersion], ['live', version], 'the next push is live');
    for (const sessionId of sessionIds) {
      const { arm, modelVersion } = await listOf(server, sessionId);
      t.strictSame([arm, modelVersion], ['live', version], `${sessionId}: GET /v1/recommendations is live`);
    }
  };

  const first = await startExperiment(4, 'retired');
  t.equal((await cli('retire', first.version)).code, 0, 'attune models retire');
  await waitFor('the experiment stopped', () => server.arms.candidateVersion === null);
  await everyListLive([first.sessionId, ...candidateSessions(first.version, 'retired-more', 5)], first.client, live);

  const second = await startExperiment(5, 'promoted');
  t.equal((await cli('promote', second.version)).code, 0, 'attune models promote');
  await waitFor('the candidate live and the experiment over', () => server.model.manifest.version === second.version && server.arms.candidateVersion === null);
  await everyListLive([second.sessionId, ...candidateSessions(second.version, 'promoted-more', 5)], second.client, second.version);
});
