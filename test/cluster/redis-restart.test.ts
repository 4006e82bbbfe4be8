import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { demoModelDir } from '../helpers.js';
import { describeInterval, diagnostics, Load, nonIncreasingEpochs, overlappingOwnership, ownershipIntervals, startNodes, waitForBalance } from '../support/cluster-nodes.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

/*
 * Issue 4, 5c with node processes (two-nodes.test.ts covers one in-process node): Redis, without
 * persistence, is killed and back within a fraction of the lease TTL. It comes back empty: no
 * leases, no heartbeats, no epoch counters. The nodes recover (ready, one owner per
 * shard, events acked and pushed again) and no shard is ever held by two nodes at once, even
 * though the first node to reach the empty Redis sees itself alone.
 */

const SHARDS = 32;
const TTL = 1500;

t.test('Redis restarts empty within the lease TTL: nodes recover, and no shard is held by two nodes at once', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const nodes = await startNodes(['amber', 'basil'], { redisUrl: redis.url, shards: SHARDS, leaseTtlMs: TTL, modelDir: await demoModelDir() });
  t.teardown(() => Promise.all(nodes.map((node) => node.stop(2000))));
  await waitForBalance(nodes, SHARDS, 15_000);

  const load = new Load({ sockets: 20, urls: () => nodes.map((n) => n.url), intervalMs: 100, ackTimeoutMs: 3000, prefix: `restart-${process.pid}` });
  t.teardown(() => load.close());
  await load.add();
  await sleep(1500);

  const killedAt = Date.now();
  redis.kill('SIGKILL');
  await redis.restart();
  const downMs = Date.now() - killedAt;
  t.ok(downMs < TTL, `Redis was down ${downMs} ms (< the ${TTL} ms lease TTL)`);

  await waitForBalance(nodes, SHARDS, TTL * 10);
  const recoveredAt = Date.now();
  await sleep(2000);
  await load.stop();
  const late = load.clients.filter((c) => !c.sent.some((e) => e.emittedAt > recoveredAt && e.outcome === 'acked'));
  t.same(late.map((c) => c.key), [], 'every session had events acked again after the recovery');
  const unpushed = load.clients.filter((c) => !c.pushes.some((p) => p.at > recoveredAt && p.eventId !== null));
  t.same(unpushed.map((c) => c.key), [], 'every session got pushes again');

  // The emptied Redis quarantines every shard for one TTL, so the first node back cannot take
  // shards the other still holds by its clock; epochs restart from Redis's clock, above the old ones.
  const intervals = ownershipIntervals(nodes);
  const overlaps = overlappingOwnership(intervals);
  t.same(overlaps.slice(0, 5).map(([a, b]) => `${describeInterval(a)} overlaps ${describeInterval(b)}`), [], `no shard held by two nodes at once (${overlaps.length} overlaps)`);
  const backwards = nonIncreasingEpochs(intervals);
  t.same(backwards.slice(0, 5).map(([a, b]) => `${describeInterval(a)} then ${describeInterval(b)}`), [], `each new holder has a larger epoch than every earlier one (${backwards.length} not)`);
  if (overlaps.length > 0) {
    const shard = overlaps[0][0].shard;
    const changes = nodes.flatMap((n) => n.ownership.filter((c) => c.shard === shard)).sort((a, b) => a.time - b.time);
    t.comment(`Redis killed at ${killedAt}, back after ${downMs} ms; shard ${shard}:\n${changes.map((c) => `  ${c.time} ${c.nodeId} ${c.event} epoch ${c.epoch}${c.reason === undefined ? '' : ` (${c.reason})`}`).join('\n')}`);
  }
  t.comment(`load: ${JSON.stringify(load.totals())}`);
  if (!t.passing()) for (const line of diagnostics(nodes)) t.comment(line);
});
