import t from 'tap';
import type { RunningServer } from '../../src/server/start.js';
import { RESERVED_LEASES } from '../../src/store/leases.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { authHeaders, startLocalServer, testSecurity, waitFor } from '../helpers.js';

async function putEvents(server: RunningServer, sessionId: string, itemIds: readonly string[]): Promise<void> {
  const res = await fetch(`${server.url}/v1/events`, {
    method: 'POST',
    headers: { ...authHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ sessionId, eventList: itemIds.map((itemId) => ({ eventType: 'view', itemId })) }),
  });
  if (res.status !== 200) throw new Error(`PUT events: ${res.status} ${await res.text()}`);
}

t.test('two nodes on one Redis: one leader schedules retraining, the other takes over when it stops', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const node = (nodeId: string) =>
    startLocalServer({ redis: { url: redis.url }, cluster: { nodeId, shardCount: 8, leaseTtlMs: 1000 }, security: testSecurity, retrain: { everyMs: 0, afterEvents: 3 } });
  const a = await node('node-a');
  const b = await node('node-b');
  let aClosed = false;
  t.teardown(async () => {
    if (!aClosed) await a.close();
    await b.close();
  });
  await waitFor('a retraining leader', () => a.retrain.isLeader() || b.retrain.isLeader(), 10_000);
  const [leader, follower] = a.retrain.isLeader() ? [a, b] : [b, a];
  t.notOk(follower.retrain.isLeader(), 'one leader only');
  t.equal((await leader.stores.leases.holder(RESERVED_LEASES.retrainLeader))?.nodeId, leader.nodeId, 'it holds the leader lease');

  // Events through the follower: the leader counts them (reported over the bus) and runs the job itself.
  await putEvents(follower, 'first', ['watches-001', 'watches-002', 'watches-003']);
  await waitFor('a run on the leader', () => leader.retrain.list().length > 0, 30_000);
  t.match(leader.retrain.list(), [{ trigger: 'events', nodeId: leader.nodeId }]);
  await waitFor('the run to end', () => leader.retrain.list()[0].status !== 'running', 60_000);
  t.match(leader.retrain.list()[0], { status: 'failed', error: /^the log holds 1 session\(s\)/ }, 'one session is too little to train on: a failed run, still a run');
  t.strictSame(follower.retrain.list(), [], 'the follower ran nothing');

  // The leader stops: the follower takes its place and schedules the next run.
  await leader.close();
  if (leader === a) aClosed = true;
  await waitFor('the follower to take over', () => follower.retrain.isLeader(), 10_000);
  t.equal((await follower.stores.leases.holder(RESERVED_LEASES.retrainLeader))?.nodeId, follower.nodeId);
  await putEvents(follower, 'second', ['watches-004', 'watches-005', 'watches-006']);
  await waitFor('a run on the new leader', () => follower.retrain.list().length > 0, 30_000);
  t.match(follower.retrain.list(), [{ trigger: 'events', nodeId: follower.nodeId }]);
  await waitFor('the run to end', () => follower.retrain.list()[0].status !== 'running', 60_000);
  const audited = (await follower.stores.audit.read({ limit: 50 })).filter((entry) => entry.action === 'retrain.started').map((entry) => entry.actor);
  t.strictSame(audited, [`node:${follower.nodeId}`, `node:${leader.nodeId}`], 'two runs in all, each by the leader of its time');
});
