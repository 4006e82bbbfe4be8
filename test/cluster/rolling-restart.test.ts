import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import {
  describeInterval,
  diagnostics,
  Load,
  nonIncreasingEpochs,
  overlappingOwnership,
  ownershipIntervals,
  readKeys,
  startBalancedCluster,
  startNode,
  verdicts,
  waitForBalance,
} from '../support/cluster-nodes.js';
import type { NodeProcess } from '../../scripts/harness/nodes.js';
import { waitFor } from '../helpers.js';

/*
 * Issue 16, point 3: a rolling restart of three node processes under socket load. Each node gets
 * SIGTERM, drains (readiness fails, new sockets are refused, its shards are handed off with fenced
 * snapshots, the other nodes are told to take them at once), exits 0 and comes back on the same
 * port. No acknowledged event is lost or applied twice, shards move without waiting out a lease,
 * and every session is pushed within 1 s of its next event afterwards.
 */

const SHARDS = 32;
/** Long on purpose: a takeover that waited for the lease to run out would show. */
const TTL = 6000;
const SOCKETS = 45;
const INTERVAL_MS = 100;

t.test('a rolling restart under load: drained nodes hand off at once, nothing acked is lost or applied twice', async (t) => {
  const { nodes, redisUrl, options } = await startBalancedCluster(t, ['amber', 'basil', 'cedar'], { shards: SHARDS, leaseTtlMs: TTL });
  const retired: NodeProcess[] = [];
  t.teardown(() => Promise.all(nodes.map((node) => node.stop(2000))));
  const draining = new Set<NodeProcess>();
  const load = new Load({ sockets: SOCKETS, urls: () => nodes.filter((n) => n.alive && !draining.has(n)).map((n) => n.url), intervalMs: INTERVAL_MS, prefix: `rolling-${process.pid}` });
  t.teardown(() => load.close());
  await load.add();
  await sleep(2000);

  for (const [i, old] of [...nodes].entries()) {
    const held = old.ownedShards();
    draining.add(old);
    const stoppedAt = Date.now();
    t.match(await old.stop(30_000), { code: 0 }, `${old.nodeId} drained and exited 0`);
    const others = nodes.filter((n) => n !== old);
    await waitFor(`${old.nodeId}'s shards taken by the others`, () => held.every((shard) => others.some((n) => n.ownedShards().includes(shard))), TTL * 3);
    const takenAt = Math.max(...held.map((shard) => Math.min(...others.flatMap((n) => n.ownership.filter((c) => c.event === 'shard-gained' && c.shard === shard && c.time >= stoppedAt).map((c) => c.time)))));
    const releasedAt = Math.max(...old.ownership.filter((c) => c.event === 'shard-lost' && c.time >= stoppedAt).map((c) => c.time));
    t.ok(takenAt - releasedAt < TTL / 2, `${old.nodeId}'s ${held.length} shards were taken ${takenAt - releasedAt} ms after its last handoff (a lease TTL is ${TTL} ms)`);
    retired.push(old);
    const port = Number(new URL(old.url).port);
    nodes[i] = await startNode({ ...options, nodeId: old.nodeId, port });
    await waitForBalance(nodes, SHARDS, TTL * 4);
    await sleep(1000);
    t.comment(`${old.nodeId} back after ${Date.now() - stoppedAt} ms`);
  }
  await load.stop();

  // Every session's next event is pushed, on whichever node its socket now is, within 1 s.
  const began = Date.now();
  const outcomes = await Promise.all(
    load.clients.map(async (client) => {
      await waitFor(`${client.key} connected`, () => client.connectedTo !== null, 10_000);
      // A purchase leaves the lists it is bought from: the top of the last list bought changes the list for sure.
      const top = client.pushes.at(-1)?.items[0];
      if (top === undefined) return { key: client.key, outcome: 'never pushed', ms: null };
      const sent = await client.sendOne({ eventType: 'purchase', itemId: top });
      const pushed = await waitFor(`${client.key}'s push`, () => client.pushes.some((p) => p.eventId !== null && p.eventId === sent.eventId), 3000).then(
        () => true,
        () => false,
      );
      const push = client.pushes.find((p) => p.eventId !== null && p.eventId === sent.eventId);
      return { key: client.key, outcome: sent.outcome, ms: pushed && push !== undefined ? push.at - sent.emittedAt : null };
    }),
  );
  t.comment(`next events sent and pushed in ${Date.now() - began} ms`);
  const worst = Math.max(...outcomes.map((o) => o.ms ?? Infinity));
  const late = outcomes.filter((o) => o.ms === null || o.ms > 1000).map((o) => `${o.key}: ${o.outcome} ${o.ms ?? 'no push'}`);
  t.same(late, [], `every session pushed within 1 s of its next event after the restarts (worst ${worst} ms)`);

  for (const node of nodes) t.match(await node.stop(), { code: 0 }, `${node.nodeId} stopped cleanly`);
  const totals = load.totals();
  t.comment(`load: ${JSON.stringify(totals)}`);
  const results = verdicts(load.clients, await readKeys(redisUrl, load.clients.map((c) => c.key), SHARDS));
  t.same(results.filter((v) => v.missing.length > 0).map((v) => `${v.key}: ${v.missing.join(',')}`), [], 'every acked event is in the log');
  t.same(results.filter((v) => v.unexplained > 0).map((v) => `${v.key}: logged ${v.logged}, acked ${v.acked}, uncertain ${v.uncertain}`), [], 'the log holds nothing beyond the acked and the unanswered sends');
  t.same(results.filter((v) => v.applied !== v.coveredByLog).map((v) => `${v.key}: applied ${v.applied}, log entries covered ${v.coveredByLog}`), [], 'each logged event applied exactly once');
  t.same(results.filter((v) => !v.complete).map((v) => `${v.key}: logged ${v.logged}, applied ${v.applied}`), [], 'every logged event applied by the end');
  t.ok(totals.acked > SOCKETS * 20, `${totals.acked} events acked`);
  // A draining node answers what it has in flight before it closes a socket and refuses (retryably) what
  // comes after; only a message still on the wire as the socket closes goes unanswered (a client resends
  // it with its eventId, see @attune/client). Counted, not asserted: that race is the network's.
  const unanswered = load.clients.flatMap((c) => c.sent.filter((e) => e.outcome === 'timeout' || e.outcome === 'disconnected'));
  t.comment(`unanswered during the drains: ${unanswered.length}; refused to be sent elsewhere: ${load.clients.reduce((n, c) => n + c.sent.filter((e) => e.errorCode === 'ATTUNE_ERR_NOT_READY').length, 0)}`);

  const intervals = ownershipIntervals([...retired, ...nodes]);
  t.same(overlappingOwnership(intervals).map(([a, b]) => `${describeInterval(a)} overlaps ${describeInterval(b)}`), [], 'no shard held by two nodes at once');
  t.same(nonIncreasingEpochs(intervals).map(([a, b]) => `${describeInterval(a)} then ${describeInterval(b)}`), [], 'each new holder has a larger epoch');

  if (!t.passing()) for (const line of diagnostics([...retired, ...nodes])) t.comment(line);
});
