import t, { type Test } from 'tap';
import { assignedShards, rendezvousOwner, ShardOwnership, type LossReason } from '../../src/actors/shard-ownership.js';
import { MemoryLeaseStore } from '../../src/store/memory-leases.js';

const SHARDS = 16;
const TTL = 1000;

t.test('rendezvous: every shard has one owner, and a join moves only the shards the newcomer wins', async (t) => {
  const two = ['node-a', 'node-b'];
  const three = [...two, 'node-c'];
  const owners2 = Array.from({ length: 256 }, (_, s) => rendezvousOwner(s, two));
  const owners3 = Array.from({ length: 256 }, (_, s) => rendezvousOwner(s, three));
  const moved = owners2.filter((o, s) => o !== owners3[s]);
  t.ok(moved.length > 0);
  t.ok(owners3.every((o, s) => o === owners2[s] || o === 'node-c'), 'no shard moves between the old nodes');
  t.equal(rendezvousOwner(0, []), null);
  const shares = three.map((n) => assignedShards(n, three, 256).length);
  t.equal(shares.reduce((a, b) => a + b, 0), 256);
  t.ok(Math.min(...shares) > 256 / 3 / 2, `balanced enough: ${shares.join(', ')}`);
});

t.test('rendezvous: node ids that differ only in their last character still share the shards', async (t) => {
  for (const nodes of [['node-0', 'node-1'], ['node-0', 'node-1', 'node-2'], ['amber', 'basil', 'cedar', 'dune']]) {
    const shares = nodes.map((n) => assignedShards(n, nodes, 32).length);
    t.ok(Math.min(...shares) >= 32 / nodes.length / 2, `${nodes.join(', ')} over 32 shards: ${shares.join(', ')}`);
  }
});

function cluster(now: { ms: number }) {
  const leases = new MemoryLeaseStore(SHARDS, () => now.ms);
  const log: string[] = [];
  const node = (nodeId: string) =>
    new ShardOwnership({
      leases,
      nodeId,
      shardCount: SHARDS,
      leaseTtlMs: TTL,
      monotonicNow: () => now.ms,
      onGained: (shard, fence) => void log.push(`${nodeId} +${shard}@${fence.epoch}`),
      onLost: (shard, reason: LossReason) => void log.push(`${nodeId} -${shard} ${reason}`),
      onError: (err) => {
        throw err;
      },
    });
  /** Asserts at this instant that no shard is believed owned by two nodes. */
  const assertSingleOwners = (t: Test, nodes: ShardOwnership[]) => {
    const seen = new Map<number, number>();
    for (const n of nodes) for (const s of n.ownedShards()) if (n.fence(s) !== null) seen.set(s, (seen.get(s) ?? 0) + 1);
    t.ok([...seen.values()].every((c) => c === 1), 'no shard has two owners');
  };
  return { leases, log, node, assertSingleOwners };
}

/** Two nodes after the rounds that split the shards between them: join, handoff, take. */
async function settledPair(node: (nodeId: string) => ShardOwnership): Promise<[ShardOwnership, ShardOwnership]> {
  const a = node('node-a');
  const b = node('node-b');
  for (const n of [a, b, a, b]) await n.tick();
  return [a, b];
}

t.test('a joining node gets its shards by handoff, never by overlap', async (t) => {
  const now = { ms: 0 };
  const { leases, node, assertSingleOwners } = cluster(now);
  const a = node('node-a');
  const b = node('node-b');
  await a.tick();
  t.equal(a.ownedShards().length, SHARDS, 'alone, a owns everything');
  await b.tick(); // b registers; its shards are still a's
  assertSingleOwners(t, [a, b]);
  t.strictSame(b.ownedShards(), []);
  await a.tick(); // a sees b and hands b's shards off
  assertSingleOwners(t, [a, b]);
  await b.tick(); // b takes them
  assertSingleOwners(t, [a, b]);
  const nodes = await leases.liveNodes();
  t.strictSame(a.ownedShards(), assignedShards('node-a', nodes, SHARDS));
  t.strictSame(b.ownedShards(), assignedShards('node-b', nodes, SHARDS));
  for (const shard of b.ownedShards()) t.equal(b.fence(shard)?.epoch, 2, 'the second lease of the shard');
});

t.test('a node that stops renewing loses its shards by its own clock before another takes them', async (t) => {
  const now = { ms: 0 };
  const { node, log, assertSingleOwners } = cluster(now);
  const [a, b] = await settledPair(node);
  const aShards = a.ownedShards();
  // a freezes (no more ticks). Its belief in ownership lapses at TTL by its own clock...
  now.ms += TTL;
  t.strictSame(aShards.map((s) => a.fence(s)), aShards.map(() => null), 'a no longer fences with its leases');
  await b.tick(); // ...and only once the store's TTL is over can b take them, with larger epochs.
  assertSingleOwners(t, [a, b]);
  t.equal(b.ownedShards().length, SHARDS);
  for (const shard of aShards) t.ok((b.fence(shard)?.epoch ?? 0) > 1);
  // a wakes up: its renewals are refused and it reports the loss.
  await a.tick();
  t.strictSame(a.ownedShards(), []);
  t.ok(aShards.every((s) => log.includes(`node-a -${s} lease-lost`)));
});

t.test('stop hands every shard back and leaves, so the others take over at once', async (t) => {
  const now = { ms: 0 };
  const { leases, node, log } = cluster(now);
  const [a, b] = await settledPair(node);
  const aShards = a.ownedShards();
  await a.stop();
  t.ok(aShards.every((s) => log.includes(`node-a -${s} shutdown`)));
  t.strictSame(await leases.liveNodes(), ['node-b']);
  await b.tick();
  t.equal(b.ownedShards().length, SHARDS, 'without waiting for any TTL');
});
