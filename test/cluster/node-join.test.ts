import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { shardOf } from '../../src/store/shard.js';
import {
  describeInterval,
  diagnostics,
  duplicatePushes,
  liveActors,
  Load,
  nonIncreasingEpochs,
  overlappingOwnership,
  ownershipIntervals,
  pushResumedAfter,
  readKeys,
  startNode,
  startBalancedCluster,
  verdicts,
  waitForBalance,
} from '../support/cluster-nodes.js';

/*
 * Issue 4, 5b: a fourth node process joins three under steady socket load. Shards move to it by
 * handoff (the old owner logs shard-lost "rebalance" before the newcomer logs shard-gained),
 * nothing acknowledged is lost and nothing is applied twice.
 */

const SHARDS = 32;
const TTL = 1000;
const SOCKETS = 60;
const LATE_SOCKETS = 15;
const INTERVAL_MS = 100;

t.test('a fourth node joins under load: shards move by handoff, nothing lost, nothing applied twice', async (t) => {
  const { nodes, redisUrl, options } = await startBalancedCluster(t, ['amber', 'basil', 'cedar'], { shards: SHARDS, leaseTtlMs: TTL });

  const load = new Load({ sockets: SOCKETS, urls: () => nodes.filter((n) => n.alive).map((n) => n.url), intervalMs: INTERVAL_MS, prefix: `join-${process.pid}` });
  t.teardown(() => load.close());
  await load.add();
  await sleep(3000);

  const before = new Map(nodes.flatMap((node) => node.ownedShards().map((shard) => [shard, node.nodeId] as const)));
  const joinedAt = Date.now();
  const newcomer = await startNode({ ...options, nodeId: 'dune' });
  nodes.push(newcomer);
  await waitForBalance(nodes, SHARDS, TTL * 10);
  const balancedMs = Date.now() - joinedAt;
  const moved = newcomer.ownedShards();
  t.ok(moved.length > 0, `the newcomer took ${moved.length} shards (${balancedMs} ms from its start to a settled assignment)`);
  await load.add(LATE_SOCKETS, [newcomer.url]);
  await sleep(3000);
  await load.stop();
  await sleep(1000);

  // Every moved shard was handed off: its previous owner let go (rebalance) before the newcomer took it.
  for (const shard of moved) {
    const gained = newcomer.ownership.find((c) => c.event === 'shard-gained' && c.shard === shard);
    const previous = nodes.find((n) => n.nodeId === before.get(shard));
    const lost = previous?.ownership.filter((c) => c.event === 'shard-lost' && c.shard === shard).at(-1);
    t.ok(
      gained !== undefined && lost !== undefined && lost.reason === 'rebalance' && lost.time <= gained.time && lost.epoch < gained.epoch,
      `shard ${shard}: ${previous?.nodeId} lost it (${lost?.reason} @${lost?.time} epoch ${lost?.epoch}) before dune gained it (@${gained?.time} epoch ${gained?.epoch})`,
    );
  }

  // Pushes went on for the keys whose shard moved.
  const movedClients = load.clients.filter((c) => moved.includes(shardOf(c.key, SHARDS)));
  const handoffAt = Math.max(...newcomer.ownership.filter((c) => c.event === 'shard-gained').map((c) => c.time));
  const resumed = movedClients.map((client) => pushResumedAfter(client, handoffAt));
  t.ok(resumed.every((ms) => ms !== null && ms < TTL + 2000), `pushes for the ${movedClients.length} moved keys resumed after the handoff (worst ${Math.max(...resumed.map((ms) => ms ?? Infinity))} ms)`);

  // One activation per key.
  const live = await Promise.all(nodes.map((node) => liveActors(node)));
  t.equal(live.reduce<number>((sum, n) => sum + (n ?? 0), 0), SOCKETS + LATE_SOCKETS, `live actors over the nodes (${live.join(' + ')}) equal the keys`);
  const duplicated = load.clients.flatMap((client) => duplicatePushes(client).map((id) => `${client.key} ${id}`));
  t.same(duplicated, [], 'no event caused two pushes (two activations applying it)');

  for (const node of nodes) t.match(await node.stop(), { code: 0 }, `${node.nodeId} stopped cleanly`);

  const totals = load.totals();
  t.comment(`load: ${JSON.stringify(totals)}`);
  t.equal(totals.uncertain, 0, 'every event was acked (no node died)');
  const results = verdicts(load.clients, await readKeys(redisUrl, load.clients.map((c) => c.key), SHARDS));
  t.same(results.filter((v) => v.missing.length > 0 || v.logged !== v.acked).map((v) => `${v.key}: logged ${v.logged}, acked ${v.acked}, missing ${v.missing.length}`), [], 'the log holds exactly the acked events');
  t.same(results.filter((v) => v.applied !== v.coveredByLog).map((v) => `${v.key}: applied ${v.applied}, log entries covered ${v.coveredByLog}`), [], 'each logged event applied exactly once');
  t.same(results.filter((v) => !v.complete).map((v) => `${v.key}: logged ${v.logged}, applied ${v.applied}`), [], 'every logged event applied by the end');
  t.ok(totals.acked > SOCKETS * 20, `${totals.acked} events acked`);

  const intervals = ownershipIntervals(nodes);
  t.same(overlappingOwnership(intervals).map(([a, b]) => `${describeInterval(a)} overlaps ${describeInterval(b)}`), [], 'no shard held by two nodes at once');
  t.same(nonIncreasingEpochs(intervals).map(([a, b]) => `${describeInterval(a)} then ${describeInterval(b)}`), [], 'each new holder has a larger epoch');

  if (!t.passing()) for (const line of diagnostics(nodes)) t.comment(line);
});
