import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { sessionKey } from '../../src/session/events.js';
import { RedisKeyspace, RedisSnapshotStore } from '../../src/store/redis/index.js';
import { encodeSnapshot } from '../../src/session/snapshot.js';
import { initialState } from '../../src/session/state.js';
import { shardOf } from '../../src/store/shard.js';
import { FencedError } from '../../src/store/types.js';
import { RedisConnection } from '../../src/store/redis/connection.js';
import {
  compareIds,
  diagnostics,
  inspector,
  liveActors,
  Load,
  LoadClient,
  pushResumedAfter,
  readKeys,
  readSnapshot,
  type SentEvent,
  startBalancedCluster,
  waitForBalance,
  verdicts,
} from '../support/cluster-nodes.js';

/*
 * Issue 4, 5d: a node process paused with SIGSTOP past its lease, then resumed, cannot write
 * stale state. While it sleeps the other node takes its shards; once awake it gives them up
 * (shard-lost, lease-lost), its old epoch is refused by the store, and the snapshots that
 * persist are the new owner's: their epoch never goes back, their last event id never shrinks.
 *
 * Issue 12, 4: a paused node still counts as its shards' subscriber, so the wake notes sent to it
 * while it sleeps reach no one awake. A session whose last event arrives during the pause still
 * gets that event's push, from the node that takes the shard over.
 */

const SHARDS = 32;
const TTL = 1000;
const PAUSE_MS = TTL + 1500;
const SOCKETS = 30;
const INTERVAL_MS = 100;
const QUIET = 8;
/** How long the new owner has, after the takeover, to push the quiet sessions' last events. */
const QUIET_PUSH_MS = 5000;

/** When each client got the push of its event in `sent`, waiting up to QUIET_PUSH_MS for them all; null: never. */
async function quietPushes(clients: readonly LoadClient[], sent: readonly SentEvent[]): Promise<Array<number | null>> {
  const pushedAt = (): Array<number | null> => clients.map((client, i) => client.pushes.find((p) => p.eventId === sent[i].eventId)?.at ?? null);
  const deadline = Date.now() + QUIET_PUSH_MS;
  while (pushedAt().includes(null) && Date.now() < deadline) await sleep(20);
  return pushedAt();
}

interface Observation {
  at: number;
  epoch: number | null;
  lastEventId: string | null;
}

t.test('a node paused past its lease and resumed cannot write stale state; it gives its shards up', async (t) => {
  // A snapshot after every applied event: the stored epoch always names the latest writer.
  const { nodes, redisUrl } = await startBalancedCluster(t, ['amber', 'basil'], { shards: SHARDS, leaseTtlMs: TTL, args: ['--snapshot-every', '1'] });
  const [sleeper, other] = nodes;

  const load = new Load({ sockets: SOCKETS, urls: () => nodes.map((n) => n.url), intervalMs: INTERVAL_MS, prefix: `pause-${process.pid}` });
  t.teardown(() => load.close());
  await load.add();
  await sleep(2000);

  // The shards it holds now, at the epoch of its latest gain of each.
  const lastGain = (shard: number): number => sleeper.ownership.filter((c) => c.event === 'shard-gained' && c.shard === shard).at(-1)?.epoch ?? 0;
  const sleeperShards = new Map(sleeper.ownedShards().map((shard) => [shard, lastGain(shard)]));
  const watched = load.clients.filter((c) => sleeperShards.has(shardOf(c.key, SHARDS)));
  t.ok(watched.length > 0, `${watched.length} keys live in the ${sleeperShards.size} shards of the node to pause`);

  // Watch the stored snapshots of those keys all along.
  const history = new Map<string, Observation[]>(watched.map((c) => [c.key, []]));
  const redisClient = inspector(redisUrl);
  const keyspace = new RedisKeyspace('attune', SHARDS);
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      for (const client of watched) {
        const snapshot = await readSnapshot(redisClient, keyspace, client.key);
        history.get(client.key)?.push({ at: Date.now(), epoch: snapshot?.epoch ?? null, lastEventId: snapshot?.lastEventId ?? null });
      }
      await sleep(25);
    }
  })().catch((err: unknown) => (watching ? Promise.reject(err) : undefined));
  t.teardown(async () => {
    watching = false;
    await watcher.catch(() => undefined);
    redisClient.disconnect();
  });

  // Quiet sessions: sockets on the other node, keys in the shards of the node to pause; one event
  // before the pause, one during it, then nothing.
  const quiet: LoadClient[] = [];
  for (let n = 0; quiet.length < QUIET; n++) {
    const sessionId = `quiet-${process.pid}-${n}`;
    if (!sleeperShards.has(shardOf(sessionKey(sessionId), SHARDS))) continue;
    const client = new LoadClient({ sessionId, urls: () => [other.url], firstUrl: other.url, intervalMs: INTERVAL_MS, ackTimeoutMs: 10_000, seed: n });
    t.teardown(() => client.close());
    await client.connect();
    quiet.push(client);
  }
  for (const client of quiet) await client.sendOne();

  const pausedAt = sleeper.pause();
  const quietSent = await Promise.all(quiet.map((client) => client.sendOne()));
  await other.waitFor('the paused node\'s shards taken over', () => [...sleeperShards.keys()].every((shard) => other.ownedShards().includes(shard)), PAUSE_MS + 5000);
  const takeovers = new Map(other.ownership.filter((c) => c.event === 'shard-gained' && c.time > pausedAt).map((c) => [c.shard, c]));
  t.ok([...takeovers.values()].every((c) => c.epoch > (sleeperShards.get(c.shard) ?? Infinity)), 'the new owner holds each shard at a larger epoch');
  const remaining = pausedAt + PAUSE_MS - Date.now();
  t.ok(remaining > 0, `taken over ${Math.max(...[...takeovers.values()].map((c) => c.time - pausedAt))} ms into the pause`);
  const quietTakeover = (i: number): number => takeovers.get(shardOf(quiet[i].key, SHARDS))?.time ?? 0;
  t.ok(quietSent.every((e, i) => e.outcome === 'acked' && e.emittedAt < quietTakeover(i)), `the quiet sessions' last events were acked during the pause, before their shards were taken over`);

  // Their wake notes went to the paused node; the new owner pushes them all the same (while the
  // paused node still sleeps, so only the new owner can have pushed).
  const pushedAt = await quietPushes(quiet, quietSent);
  t.same(
    pushedAt.map((at) => at !== null),
    quiet.map(() => true),
    `every session whose last event arrived during the pause got its push after the takeover (${pushedAt.filter((at) => at !== null).length} of ${QUIET}; latest ${Math.max(...pushedAt.map((at, i) => (at === null ? NaN : at - quietTakeover(i))))} ms after its shard's takeover)`,
  );
  const rest = pausedAt + PAUSE_MS - Date.now();
  if (rest > 0) await sleep(rest);
  const resumedAt = sleeper.resume();

  // Awake, it finds its leases gone and gives every shard up without a flush.
  await sleeper.waitFor('lease-lost for every shard it held', () => {
    const lost = sleeper.ownership.filter((c) => c.event === 'shard-lost' && c.time >= resumedAt);
    return [...sleeperShards.keys()].every((shard) => lost.some((c) => c.shard === shard));
  }, 10_000);
  const losses = sleeper.ownership.filter((c) => c.event === 'shard-lost' && c.time >= resumedAt && sleeperShards.has(c.shard));
  t.ok(losses.every((c) => c.reason === 'lease-lost' && c.epoch === sleeperShards.get(c.shard)), `it logged shard-lost (lease-lost) at its old epoch for all ${sleeperShards.size} shards`);

  // The store refuses a snapshot written under its old epoch.
  const connection = await RedisConnection.open({ url: redisUrl });
  t.teardown(() => connection.close());
  const snapshots = new RedisSnapshotStore(connection, keyspace);
  const probe = watched[0].key;
  const probeShard = shardOf(probe, SHARDS);
  const stale = encodeSnapshot({ v: 1, key: probe, userId: null, state: { ...initialState(), eventCount: 1, lastEventId: '99999999999999-0' } });
  await t.rejects(snapshots.put(stale, { shard: probeShard, epoch: sleeperShards.get(probeShard) ?? 0 }), FencedError, 'a put under the paused node\'s old epoch is refused');

  // It rejoins: the shards come back to it by handoff, at newer epochs still.
  await waitForBalance(nodes, SHARDS, 10_000);
  const regained = sleeper.ownership.filter((c) => c.event === 'shard-gained' && c.time >= resumedAt);
  t.ok(regained.every((c) => c.epoch > (takeovers.get(c.shard)?.epoch ?? 0)), `it regained ${regained.length} shards at epochs above the interim owner's`);
  // The quiet sessions speak once more, so each is live on its shard's owner now (handed off
  // with nothing new, a key is live nowhere until its next event).
  const finalPushes = await quietPushes(quiet, await Promise.all(quiet.map((client) => client.sendOne())));
  t.ok(finalPushes.every((at) => at !== null), 'the quiet sessions\' next events were pushed by their owners after the handback');
  await sleep(1500);
  await load.stop();
  await sleep(1000);
  watching = false;
  await watcher;

  const bound = TTL + 2000;
  const onOther = watched.filter((c) => c.connections.every((conn) => conn.url === other.url));
  const resumed = onOther.map((c) => pushResumedAfter(c, pausedAt));
  t.ok(resumed.every((ms) => ms !== null && ms <= bound), `pushes resumed within ${bound} ms of the pause for the ${onOther.length} paused-owner keys with sockets on the other node (worst ${Math.max(...resumed.map((ms) => ms ?? Infinity))} ms)`);

  const live = await Promise.all(nodes.map((node) => liveActors(node)));
  t.equal(live.reduce<number>((sum, n) => sum + (n ?? 0), 0), SOCKETS + QUIET, `live actors (${live.join(' + ')}) equal the keys (${SOCKETS} loaded, ${QUIET} quiet): the resumed node kept no stale actor`);

  // The stored snapshots never went back: epochs and last event ids only grew.
  const regressions: string[] = [];
  for (const [key, seen] of history) {
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1], seen[i]];
      if (a.epoch !== null && (b.epoch === null || b.epoch < a.epoch)) regressions.push(`${key}: epoch ${a.epoch} -> ${b.epoch} at ${b.at}`);
      if (a.lastEventId !== null && (b.lastEventId === null || compareIds(b.lastEventId, a.lastEventId) < 0)) regressions.push(`${key}: id ${a.lastEventId} -> ${b.lastEventId} at ${b.at}`);
    }
  }
  t.same(regressions, [], `no stored snapshot went back in epoch or event id (${[...history.values()].reduce((n, h) => n + h.length, 0)} observations)`);
  // Every write seen after the takeover (the stored id moved) was made under a newer epoch than the paused node's.
  const firstTakeover = Math.min(...[...takeovers.values()].map((c) => c.time));
  const staleWrites = [...history].flatMap(([key, seen]) =>
    seen
      .filter((o, i) => i > 0 && o.at > firstTakeover && o.lastEventId !== seen[i - 1].lastEventId && (o.epoch ?? 0) <= (sleeperShards.get(shardOf(key, SHARDS)) ?? 0))
      .map((o) => `${key}: id ${o.lastEventId} written under epoch ${o.epoch} at ${o.at}`),
  );
  const writesAfter = [...history.values()].reduce((n, seen) => n + seen.filter((o, i) => i > 0 && o.at > firstTakeover && o.lastEventId !== seen[i - 1].lastEventId).length, 0);
  t.same(staleWrites, [], `none of the ${writesAfter} snapshot writes seen after the takeover carries the paused node's old epoch`);
  const fencedInLog = sleeper.lines.filter((line) => line.includes('FencedError') || line.includes('fenced'));
  t.comment(`the resumed node's own attempts refused by the store: ${fencedInLog.length}`);

  const stoppingAt = Date.now();
  for (const node of nodes) t.match(await node.stop(), { code: 0 }, `${node.nodeId} stopped cleanly`);

  // What persists: the latest owner's state, every logged event applied once.
  const everyClient = [...load.clients, ...quiet];
  const results = verdicts(everyClient, await readKeys(redisUrl, everyClient.map((c) => c.key), SHARDS));
  t.same(results.filter((v) => v.missing.length > 0 || v.unexplained > 0).map((v) => `${v.key}: logged ${v.logged}, acked ${v.acked}, uncertain ${v.uncertain}`), [], 'the log holds the acked events and nothing unexplained');
  t.same(results.filter((v) => v.applied !== v.coveredByLog).map((v) => `${v.key}: applied ${v.applied}, covered ${v.coveredByLog}`), [], 'each logged event applied exactly once');
  t.same(results.filter((v) => !v.complete).map((v) => `${v.key}: logged ${v.logged}, applied ${v.applied}`), [], 'every logged event applied by the end');
  const records = await readKeys(redisUrl, watched.map((c) => c.key), SHARDS);
  // The owner when the load stopped, or one after it: a node stopping first hands its shards to
  // the other, which takes them just before it stops too, wakes their recently noted keys and
  // flushes their snapshots (unchanged) under its own lease as it stops.
  const gains = (shard: number): Array<{ epoch: number; time: number }> => nodes.flatMap((n) => n.ownership.filter((c) => c.event === 'shard-gained' && c.shard === shard));
  const lastEpoch = (shard: number): number => Math.max(...gains(shard).filter((c) => c.time < stoppingAt).map((c) => c.epoch));
  const laterEpochs = (shard: number): number[] => gains(shard).filter((c) => c.time >= stoppingAt && c.epoch > lastEpoch(shard)).map((c) => c.epoch);
  const writtenByLastOwner = (shard: number, epoch: number | null | undefined): boolean => epoch === lastEpoch(shard) || (typeof epoch === 'number' && laterEpochs(shard).includes(epoch));
  t.same(records.filter((r) => !writtenByLastOwner(r.shard, r.snapshot?.epoch)).map((r) => `${r.key}: stored epoch ${r.snapshot?.epoch}, last owner's ${lastEpoch(r.shard)} (then ${laterEpochs(r.shard).join(', ') || 'none'})`), [], 'each stored snapshot was written under the lease of its shard\'s last owner');
  t.comment(`load: ${JSON.stringify(load.totals())}`);

  if (!t.passing()) for (const line of diagnostics(nodes)) t.comment(line);
});
