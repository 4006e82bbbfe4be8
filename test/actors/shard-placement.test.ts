import t from 'tap';
import { ShardPlacement, type ShardHandlers } from '../../src/actors/shard-placement.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { MemoryShardMailbox } from '../../src/store/mailbox.js';
import { MemoryLeaseStore } from '../../src/store/memory-leases.js';
import { waitFor } from '../helpers.js';

const SHARDS = 64;

t.test('ownership changes: one line per shard at debug, one summary at info', async (t) => {
  const lines: Array<{ level: string; change: Record<string, unknown> }> = [];
  const errors: unknown[] = [];
  const placement = new ShardPlacement({
    leases: new MemoryLeaseStore(SHARDS),
    mailbox: new MemoryShardMailbox(),
    nodeId: 'node-a',
    shardCount: SHARDS,
    leaseTtlMs: 5000,
    metrics: createMetrics(),
    logOwnership: (change, level) => lines.push({ level, change }),
    onError: (err) => errors.push(err),
  });
  const handlers: ShardHandlers = { adopt: () => {}, drop: async () => {}, wake: async () => {} };
  placement.start(handlers);
  const info = () => lines.filter((l) => l.level === 'info').map((l) => l.change);
  await waitFor('the startup summary', () => info().length === 1);
  t.strictSame(info(), [{ event: 'shards-changed', nodeId: 'node-a', gained: SHARDS, lost: 0, owned: SHARDS, shardCount: SHARDS }]);
  const debug = lines.filter((l) => l.level === 'debug').map((l) => l.change);
  t.equal(debug.length, SHARDS, 'every shard gained has its own line');
  t.strictSame(debug[0], { event: 'shard-gained', nodeId: 'node-a', shard: debug[0].shard, epoch: 1 });
  t.strictSame(new Set(debug.map((c) => c.shard)).size, SHARDS);

  await placement.stop();
  t.strictSame(info().at(-1), { event: 'shards-changed', nodeId: 'node-a', gained: 0, lost: SHARDS, lostBy: { shutdown: SHARDS }, owned: 0, shardCount: SHARDS }, 'the handoff at stop is summarised before stop returns');
  t.equal(info().length, 2);
  t.equal(lines.filter((l) => l.level === 'debug' && l.change.event === 'shard-lost').length, SHARDS);
  t.strictSame(errors, []);
});
