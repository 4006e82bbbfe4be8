import type { Test } from 'tap';
import { shardOf } from '../../src/store/shard.js';
import { FencedError, type Stores } from '../../src/store/types.js';
import { waitFor } from '../helpers.js';

/**
 * The behaviour every lease store owes the sharding layer, and the fenced snapshot writes that
 * rest on it. Expiry cases use short TTLs and poll for the outcome; they assert what happens,
 * never how long it took.
 */
export function leaseConformance(t: Test, name: string, createStores: () => Promise<Stores>): void {
  const withStores = (title: string, body: (t: Test, stores: Stores) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const stores = await createStores();
      t.teardown(() => stores.close());
      await body(t, stores);
    });
  };
  const LONG = 60_000;
  const SHORT = 80;

  withStores('acquire, renew and release', async (t, { leases }) => {
    t.equal(await leases.holder(3), null);
    const before = Date.now();
    const lease = await leases.acquire(3, 'node-a', LONG);
    const after = Date.now();
    t.strictSame(lease, { epoch: 1 });
    const held = await leases.holder(3);
    t.match(held, { nodeId: 'node-a', epoch: 1 });
    // The store's clock is this machine's clock here; its ms rounding may differ by one.
    t.ok(held !== null && held.expiresAt >= before + LONG - 1 && held.expiresAt <= after + LONG + 1, 'expiresAt is acquisition time + ttl');
    t.equal(await leases.renew(3, 'node-a', 1, LONG), true);
    t.equal(await leases.release(3, 'node-a', 1), true);
    t.equal(await leases.holder(3), null);
    t.equal(await leases.renew(3, 'node-a', 1, LONG), false, 'a released lease cannot be renewed');
    t.equal(await leases.release(3, 'node-a', 1), false, 'nor released twice');
    t.strictSame(await leases.acquire(3, 'node-b', LONG), { epoch: 2 }, 'the next acquisition gets a larger epoch');
    t.equal(await leases.holder(4), null, 'shards are independent');
    t.strictSame(await leases.acquire(4, 'node-a', LONG), { epoch: 1 });
  });

  withStores('a held lease cannot be taken, renewed or released by another node', async (t, { leases }) => {
    t.strictSame(await leases.acquire(7, 'node-a', LONG), { epoch: 1 });
    t.equal(await leases.acquire(7, 'node-b', LONG), null);
    t.equal(await leases.renew(7, 'node-b', 1, LONG), false);
    t.equal(await leases.release(7, 'node-b', 1), false);
    t.match(await leases.holder(7), { nodeId: 'node-a', epoch: 1 });
  });

  withStores('re-acquiring a held lease fences the old epoch', async (t, { leases }) => {
    t.strictSame(await leases.acquire(1, 'node-a', LONG), { epoch: 1 });
    t.strictSame(await leases.acquire(1, 'node-a', LONG), { epoch: 2 });
    t.equal(await leases.renew(1, 'node-a', 1, LONG), false);
    t.equal(await leases.renew(1, 'node-a', 2, LONG), true);
  });

  withStores('an expired lease goes to another node with a larger epoch; the stale holder cannot renew', async (t, { leases }) => {
    t.strictSame(await leases.acquire(5, 'node-a', SHORT), { epoch: 1 });
    await waitFor('the lease to expire', async () => (await leases.holder(5)) === null);
    t.strictSame(await leases.acquire(5, 'node-b', LONG), { epoch: 2 });
    t.equal(await leases.renew(5, 'node-a', 1, LONG), false);
    t.equal(await leases.release(5, 'node-a', 1), false);
    t.match(await leases.holder(5), { nodeId: 'node-b', epoch: 2 });
  });

  withStores('renewing sets the expiry to ttl from now', async (t, { leases }) => {
    t.strictSame(await leases.acquire(2, 'node-a', LONG), { epoch: 1 });
    const first = await leases.holder(2);
    t.equal(await leases.renew(2, 'node-a', 1, 2 * LONG), true);
    const renewed = await leases.holder(2);
    t.ok(first !== null && renewed !== null && renewed.expiresAt >= first.expiresAt + LONG - 1, 'a longer renewal moved the expiry later');
    t.equal(await leases.renew(2, 'node-a', 1, SHORT), true);
    await waitFor('the shortened lease to expire', async () => (await leases.holder(2)) === null);
    t.strictSame(await leases.acquire(2, 'node-b', LONG), { epoch: 2 });
  });

  withStores('heartbeats register nodes until they expire or leave', async (t, { leases }) => {
    t.strictSame(await leases.liveNodes(), []);
    for (const node of ['node-c', 'node-a', 'node-b']) await leases.heartbeat(node, LONG);
    t.strictSame(await leases.liveNodes(), ['node-a', 'node-b', 'node-c']);
    await leases.heartbeat('node-c', SHORT);
    await waitFor('node-c to expire', async () => !(await leases.liveNodes()).includes('node-c'));
    t.strictSame(await leases.liveNodes(), ['node-a', 'node-b']);
    await leases.heartbeat('node-c', LONG);
    t.strictSame(await leases.liveNodes(), ['node-a', 'node-b', 'node-c'], 'a heartbeat brings an expired node back');
    await leases.leave('node-b');
    t.strictSame(await leases.liveNodes(), ['node-a', 'node-c']);
  });

  withStores('bad arguments are refused before they reach the store', async (t, { leases, shardCount }) => {
    await t.rejects(leases.acquire(shardCount, 'node-a', LONG), RangeError);
    await t.rejects(leases.acquire(-1, 'node-a', LONG), RangeError);
    await t.rejects(leases.acquire(0, '', LONG), RangeError);
    await t.rejects(leases.acquire(0, 'node-a', 0), RangeError);
    await t.rejects(leases.heartbeat('node-a', 1.5), RangeError);
  });

  withStores('fenced snapshot puts: only the current epoch writes', async (t, { leases, snapshots, shardCount }) => {
    const key = 'u:fenced';
    const shard = shardOf(key, shardCount);
    const snapshot = (id: string, byte: number) => ({ key, lastEventId: id, bytes: new Uint8Array([byte]) });

    await t.rejects(snapshots.put(snapshot('1-0', 1), { shard, epoch: 1 }), new FencedError(shard, 1, null), 'no lease, no fenced write');
    t.equal(await snapshots.get(key), null);

    t.strictSame(await leases.acquire(shard, 'node-a', LONG), { epoch: 1 });
    t.equal(await snapshots.put(snapshot('2-0', 2), { shard, epoch: 1 }), true);
    t.strictSame(await snapshots.get(key), { ...snapshot('2-0', 2), epoch: 1 }, 'a fenced snapshot reads back with its epoch');

    // node-a stops renewing (paused, partitioned): its lease runs out.
    t.equal(await leases.renew(shard, 'node-a', 1, SHORT), true);
    await waitFor('node-a lease to expire', async () => (await leases.holder(shard)) === null);
    await t.rejects(snapshots.put(snapshot('3-0', 3), { shard, epoch: 1 }), new FencedError(shard, 1, null), 'an expired lease does not write');
    t.strictSame(await leases.acquire(shard, 'node-b', LONG), { epoch: 2 });
    await t.rejects(snapshots.put(snapshot('4-0', 4), { shard, epoch: 1 }), new FencedError(shard, 1, 2), 'the stale owner is refused');
    t.strictSame(await snapshots.get(key), { ...snapshot('2-0', 2), epoch: 1 }, 'the refused write left the snapshot unchanged');
    await t.rejects(snapshots.put(snapshot('5-0', 5), { shard, epoch: 3 }), new FencedError(shard, 3, 2), 'a future epoch is refused too');

    t.equal(await snapshots.put(snapshot('1-9', 6), { shard, epoch: 2 }), false, 'the owner still cannot go back in the log');
    t.equal(await snapshots.put(snapshot('6-0', 7), { shard, epoch: 2 }), true);
    t.strictSame(await snapshots.get(key), { ...snapshot('6-0', 7), epoch: 2 });
    t.equal(await snapshots.put(snapshot('7-0', 8)), true, 'unfenced puts still work (tools, migrations)');
    t.strictSame(await snapshots.get(key), snapshot('7-0', 8), 'and carry no epoch');

    const other = shard === 0 ? 1 : 0;
    await t.rejects(snapshots.put(snapshot('8-0', 9), { shard: other, epoch: 2 }), RangeError, 'a fence must name the key\'s own shard');
  });
}
