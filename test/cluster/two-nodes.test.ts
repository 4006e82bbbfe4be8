import t from 'tap';
import { sessionKey } from '../../src/actors/events.js';
import { mergeConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { shardOf } from '../../src/store/shard.js';
import { startRedis } from '../support/redis-server.js';
import { connectClient, demoModelDir, waitFor } from '../helpers.js';

const SHARDS = 16;

t.test('two nodes on one Redis: every shard has one owner, and a socket on one node is served by the other', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const modelDir = await demoModelDir();
  const node = (nodeId: string) =>
    startServer(
      mergeConfig({
        host: '127.0.0.1',
        port: 0,
        modelDir,
        logLevel: 'silent',
        redis: { url: redis.url },
        cluster: { nodeId, shardCount: SHARDS, leaseTtlMs: 1000 },
      }),
    );
  const a = await node('node-a');
  t.teardown(() => a.close());
  const b = await node('node-b');
  t.teardown(() => b.close());
  const owned = (s: RunningServer) => s.ownership?.ownedShards() ?? [];
  await waitFor('the shards to split between the nodes', () => owned(a).length > 0 && owned(b).length > 0 && owned(a).length + owned(b).length === SHARDS, 10_000);
  t.strictSame([...owned(a), ...owned(b)].sort((x, y) => x - y), Array.from({ length: SHARDS }, (_, i) => i), 'each shard exactly once');

  // A session whose shard b owns, connected to a.
  let n = 0;
  while (!owned(b).includes(shardOf(sessionKey(`remote-${n}`), SHARDS))) n++;
  const sessionId = `remote-${n}`;
  const client = await connectClient(a.url, { sessionId });
  t.teardown(() => client.close());
  await client.push();
  const acked: string[] = [];
  for (const itemId of ['watches-001', 'watches-002', 'watches-003']) {
    const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId });
    t.equal(ack.ok, true);
    acked.push(ack.eventId);
  }
  const last = await client.push((p) => p.cause?.eventId === acked[2]);
  t.ok(last.items.filter((i) => i.itemId.startsWith('watches-')).length >= 10, 'the owner scored it, the push crossed nodes');
  t.ok(b.host.isLive(sessionKey(sessionId)), 'the actor lives on the owner');
  t.notOk(a.host.isLive(sessionKey(sessionId)), 'not on the node holding the socket');
  t.equal((await b.host.currentState(sessionKey(sessionId))).eventCount, 3, 'each acked event applied once');
});
