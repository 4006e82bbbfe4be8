import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { sessionKey } from '../../src/session/events.js';
import { shardOf } from '../../src/store/shard.js';
import {
  describeInterval,
  diagnostics,
  duplicatePushes,
  liveActors,
  Load,
  LoadClient,
  nonIncreasingEpochs,
  overlappingOwnership,
  ownershipIntervals,
  pushResumedAfter,
  readKeys,
  startBalancedCluster,
  verdicts,
} from '../support/cluster-nodes.js';

/*
 * Issue 4, 5a: three node processes under steady socket load; one is killed with SIGKILL.
 * Nothing acknowledged is lost, everything logged is applied exactly once, pushes for its
 * sessions resume within the lease TTL + 2 s, and no shard is ever held by two nodes at once.
 */

const SHARDS = 32;
const TTL = 1000;
const SOCKETS = 60;
const INTERVAL_MS = 100;

t.test('kill -9 one of three nodes under load: nothing acked is lost or applied twice, pushes resume, no shard has two owners', async (t) => {
  const { nodes, redisUrl } = await startBalancedCluster(t, ['amber', 'basil', 'cedar'], { shards: SHARDS, leaseTtlMs: TTL });

  const victim = nodes[1];
  const survivors = nodes.filter((node) => node !== victim);
  const liveUrls = (): string[] => nodes.filter((node) => node.alive && node.killedAt === null).map((node) => node.url);
  const load = new Load({ sockets: SOCKETS, urls: liveUrls, intervalMs: INTERVAL_MS, prefix: `crash-${process.pid}` });
  t.teardown(() => load.close());
  await load.add();
  await sleep(3000);

  const victimShards = new Set(victim.ownedShards());
  t.ok(victimShards.size > 0, `the victim owns ${victimShards.size} shards`);
  const onVictim = load.clients.filter((client) => client.connectedTo === victim.url);
  const ownedByVictim = load.clients.filter((client) => client.connectedTo !== victim.url && victimShards.has(shardOf(client.key, SHARDS)));
  t.ok(onVictim.length > 0 && ownedByVictim.length > 0, `${onVictim.length} sockets on the victim, ${ownedByVictim.length} on survivors with keys the victim owns`);
  // Quiet sessions: connected to a survivor, keyed in the victim's shards; one event before the
  // crash, one while the victim's shards have no owner, then nothing.
  const quiet: LoadClient[] = [];
  for (let n = 0; quiet.length < 4; n++) {
    const sessionId = `quiet-${process.pid}-${n}`;
    if (!victimShards.has(shardOf(sessionKey(sessionId), SHARDS))) continue;
    const url = survivors[quiet.length % survivors.length].url;
    const client = new LoadClient({ sessionId, urls: () => [url], firstUrl: url, intervalMs: INTERVAL_MS, ackTimeoutMs: 10_000, seed: n });
    await client.connect();
    quiet.push(client);
  }
  t.teardown(() => quiet.forEach((c) => c.close()));
  for (const client of quiet) await client.sendOne();

  const killedAt = victim.crash();
  await victim.exited;
  const quietSent = await Promise.all(quiet.map((client) => client.sendOne()));
  t.ok(quietSent.every((e) => e.outcome === 'acked' && e.emittedAt < killedAt + TTL / 2), 'events for the victim\'s shards are acked while they have no owner');

  // Survivors take the victim's shards once its heartbeat and leases lapse.
  await Promise.all(
    survivors.map((node) =>
      node.waitFor('the victim\'s shards taken over', () => {
        const held = new Set(survivors.flatMap((s) => s.ownedShards()));
        return [...victimShards].every((shard) => held.has(shard));
      }, TTL + 10_000),
    ),
  );
  const takeovers = survivors.flatMap((node) => node.ownership.filter((c) => c.event === 'shard-gained' && c.time > killedAt && victimShards.has(c.shard)));
  const lastTakeoverMs = Math.max(...takeovers.map((c) => c.time - killedAt));
  t.comment(`takeover of ${victimShards.size} shards completed ${lastTakeoverMs} ms after the kill`);

  await sleep(3000);
  await load.stop();
  await sleep(1000); // pushes of the last events

  // Pushes resumed for every session the crash touched.
  const bound = TTL + 2000;
  const affected = [...new Set([...onVictim, ...ownedByVictim])];
  const resumed = affected.map((client) => ({ client, ms: pushResumedAfter(client, killedAt) }));
  const late = resumed.filter((r) => r.ms === null || r.ms > bound);
  const worst = Math.max(...resumed.map((r) => r.ms ?? Infinity));
  t.same(late.map((r) => `${r.client.key}: ${r.ms ?? 'never'}`), [], `pushes resumed within ${bound} ms for all ${affected.length} affected sessions (worst ${worst} ms)`);
  t.ok(onVictim.every((client) => client.connectedTo !== null && client.connectedTo !== victim.url), 'the victim\'s sockets reconnected to survivors');
  // Their wake notes found no owner: they were kept for the next one, which pushes on taking the shard.
  const quietPushed = quiet.map((client, i) => client.pushes.some((p) => p.eventId === quietSent[i].eventId));
  t.same(quietPushed, quiet.map(() => true), `a session that sent one event while its shard had no owner gets that event's push after the takeover (${quietPushed.filter(Boolean).length} of ${quiet.length} did)`);

  // One activation per key: each key live on exactly one survivor, no event pushed twice.
  const live = await Promise.all(survivors.map((node) => liveActors(node)));
  const liveTotal = live.reduce<number>((sum, n) => sum + (n ?? 0), 0);
  // The loaded keys are live, once each; so are the quiet keys, woken by their kept notes.
  t.equal(liveTotal, SOCKETS + quiet.length, `live actors over the survivors (${live.join(' + ')}) match the keys (${SOCKETS} loaded, ${quiet.length} quiet)`);
  const duplicated = load.clients.flatMap((client) => duplicatePushes(client, killedAt + 500).map((id) => `${client.key} ${id}`));
  t.same(duplicated, [], 'no event caused two pushes among the survivors (two activations applying it)');

  // Graceful stop: survivors hand off in turn and flush fenced snapshots.
  for (const node of survivors) t.match(await node.stop(), { code: 0 }, `${node.nodeId} stopped cleanly`);

  const totals = load.totals();
  t.comment(`load: ${JSON.stringify(totals)}`);
  const quietRecords = await readKeys(redisUrl, quiet.map((c) => c.key), SHARDS);
  t.ok(quiet.every((c, i) => c.acked().every((e) => quietRecords[i].logIds.includes(e.eventId ?? ''))), 'the quiet sessions\' acked events are in the log');
  const records = await readKeys(redisUrl, load.clients.map((c) => c.key), SHARDS);
  const results = verdicts(load.clients, records);
  t.same(results.filter((v) => v.missing.length > 0).map((v) => `${v.key}: ${v.missing.join(',')}`), [], 'every acked event is in the log');
  t.same(results.filter((v) => v.unexplained > 0).map((v) => `${v.key}: logged ${v.logged}, acked ${v.acked}, uncertain ${v.uncertain}`), [], 'the log holds nothing beyond the acked and the unanswered sends');
  t.same(results.filter((v) => v.applied !== v.coveredByLog).map((v) => `${v.key}: applied ${v.applied}, log entries covered ${v.coveredByLog}`), [], 'each logged event applied exactly once');
  t.same(results.filter((v) => !v.complete).map((v) => `${v.key}: logged ${v.logged}, applied ${v.applied}`), [], 'every logged event applied by the end');
  const onlyAcked = results.filter((v) => v.uncertain === 0);
  t.ok(onlyAcked.every((v) => v.applied === v.acked && v.logged === v.acked), `for the ${onlyAcked.length} keys with no unanswered send, applied = logged = acked`);
  t.ok(totals.acked > SOCKETS * 20, `${totals.acked} events acked`);

  // Ownership: never two holders of a shard at once; epochs only grow.
  const intervals = ownershipIntervals(nodes);
  t.same(overlappingOwnership(intervals).map(([a, b]) => `${describeInterval(a)} overlaps ${describeInterval(b)}`), [], 'no shard held by two nodes at once');
  t.same(nonIncreasingEpochs(intervals).map(([a, b]) => `${describeInterval(a)} then ${describeInterval(b)}`), [], 'each new holder has a larger epoch');
  t.ok(takeovers.every((c) => c.time > killedAt), 'the victim\'s shards were taken only after the kill');

  if (!t.passing()) for (const line of diagnostics(nodes)) t.comment(line);
});
