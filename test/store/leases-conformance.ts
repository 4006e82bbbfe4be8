import type { Test } from 'tap';
import { shardOf } from '../../src/store/shard.js';
import { RESERVED_LEASES, type Lease, type LeaseStore } from '../../src/store/leases.js';
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

  /**
   * The first lease of a shard. A store that may have lost its records refuses it for one TTL
   * (the quarantine): claimed first with a short TTL, then re-acquired for `ttl`.
   */
  const claim = async (leases: LeaseStore, shard: number, nodeId: string, ttl = LONG): Promise<number> => {
    let first: Lease | null = null;
    await waitFor(`the first lease of shard ${shard}`, async () => (first = await leases.acquire(shard, nodeId, SHORT)) !== null);
    const lease = await leases.acquire(shard, nodeId, ttl);
    if (first === null || lease === null) throw new Error(`shard ${shard} was not granted to ${nodeId}`);
    return lease.epoch;
  };

  withStores('renewals asked at once (a node renews all its shards together): each gets its own shard\'s answer', async (t, { leases }) => {
    const epochs = await Promise.all([1, 2, 3, 4].map((shard) => claim(leases, shard, 'node-a')));
    const other = await claim(leases, 5, 'node-b');
    const answers = await Promise.all([
      leases.renew(1, 'node-a', epochs[0], LONG),
      leases.renew(2, 'node-a', epochs[1] + 1, LONG),
      leases.renew(5, 'node-a', other, LONG),
      leases.renew(3, 'node-a', epochs[2], LONG),
      leases.renew(6, 'node-a', 1, LONG),
      leases.renew(4, 'node-a', epochs[3], LONG),
      leases.renew(5, 'node-b', other, LONG),
    ]);
    t.strictSame(answers, [true, false, false, true, false, true, true], 'held, a stale epoch, another node\'s, held, never taken, held, its holder\'s');
    t.strictSame((await Promise.all([1, 2, 3, 4, 5].map((shard) => leases.holder(shard)))).map((h) => h?.nodeId), ['node-a', 'node-a', 'node-a', 'node-a', 'node-b'], 'a refused renewal takes nothing from the holder');
  });

  withStores('acquire, renew and release', async (t, { leases }) => {
    t.equal(await leases.holder(3), null);
    const before = Date.now();
    const epoch = await claim(leases, 3, 'node-a');
    const after = Date.now();
    const held = await leases.holder(3);
    t.match(held, { nodeId: 'node-a', epoch });
    // The store's clock is this machine's clock here; its ms rounding may differ by one.
    t.ok(held !== null && held.expiresAt >= before + LONG - 1 && held.expiresAt <= after + LONG + 1, 'expiresAt is acquisition time + ttl');
    t.equal(await leases.renew(3, 'node-a', epoch, LONG), true);
    t.equal(await leases.release(3, 'node-a', epoch), true);
    t.equal(await leases.holder(3), null);
    t.equal(await leases.renew(3, 'node-a', epoch, LONG), false, 'a released lease cannot be renewed');
    t.equal(await leases.release(3, 'node-a', epoch), false, 'nor released twice');
    t.strictSame(await leases.acquire(3, 'node-b', LONG), { epoch: epoch + 1 }, 'the next acquisition gets the next epoch, with no quarantine');
    t.equal(await leases.holder(4), null, 'shards are independent');
    t.ok((await claim(leases, 4, 'node-a')) >= 1);
  });

  withStores('reserved leases (cluster-wide jobs) work like shards and apart from them', async (t, { leases }) => {
    const leader = RESERVED_LEASES.retrainLeader;
    const epoch = await claim(leases, leader, 'node-a');
    t.equal(await leases.acquire(leader, 'node-b', LONG), null, 'one holder at a time');
    t.match(await leases.holder(leader), { nodeId: 'node-a', epoch });
    t.equal(await leases.holder(RESERVED_LEASES.retrainRun), null, 'each reserved lease is its own');
    t.equal(await leases.holder(0), null, 'and no shard is taken with it');
    t.equal(await leases.renew(leader, 'node-a', epoch, LONG), true);
    t.equal(await leases.release(leader, 'node-a', epoch), true);
    t.strictSame(await leases.acquire(leader, 'node-b', LONG), { epoch: epoch + 1 }, 'the next holder gets a larger epoch');
    await t.rejects(leases.acquire(-3, 'node-a', LONG), RangeError, 'an id neither a shard nor reserved is refused');
  });

  withStores('a held lease cannot be taken, renewed or released by another node', async (t, { leases }) => {
    const epoch = await claim(leases, 7, 'node-a');
    t.equal(await leases.acquire(7, 'node-b', LONG), null);
    t.equal(await leases.renew(7, 'node-b', epoch, LONG), false);
    t.equal(await leases.release(7, 'node-b', epoch), false);
    t.match(await leases.holder(7), { nodeId: 'node-a', epoch });
  });

  withStores('re-acquiring a held lease fences the old epoch', async (t, { leases }) => {
    const epoch = await claim(leases, 1, 'node-a');
    t.strictSame(await leases.acquire(1, 'node-a', LONG), { epoch: epoch + 1 });
    t.equal(await leases.renew(1, 'node-a', epoch, LONG), false);
    t.equal(await leases.renew(1, 'node-a', epoch + 1, LONG), true);
  });

  withStores('an expired lease goes to another node with a larger epoch; the stale holder cannot renew', async (t, { leases }) => {
    const epoch = await claim(leases, 5, 'node-a', SHORT);
    await waitFor('the lease to expire', async () => (await leases.holder(5)) === null);
    t.strictSame(await leases.acquire(5, 'node-b', LONG), { epoch: epoch + 1 });
    t.equal(await leases.renew(5, 'node-a', epoch, LONG), false);
    t.equal(await leases.release(5, 'node-a', epoch), false);
    t.match(await leases.holder(5), { nodeId: 'node-b', epoch: epoch + 1 });
  });

  withStores('renewing sets the expiry to ttl from now', async (t, { leases }) => {
    const epoch = await claim(leases, 2, 'node-a');
    const first = await leases.holder(2);
    t.equal(await leases.renew(2, 'node-a', epoch, 2 * LONG), true);
    const renewed = await leases.holder(2);
    t.ok(first !== null && renewed !== null && renewed.expiresAt >= first.expiresAt + LONG - 1, 'a longer renewal moved the expiry later');
    t.equal(await leases.renew(2, 'node-a', epoch, SHORT), true);
    await waitFor('the shortened lease to expire', async () => (await leases.holder(2)) === null);
    t.strictSame(await leases.acquire(2, 'node-b', LONG), { epoch: epoch + 1 });
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
    await t.rejects(leases.acquire(-3, 'node-a', LONG), RangeError);
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

    const a = await claim(leases, shard, 'node-a');
    const b = a + 1;
    t.equal(await snapshots.put(snapshot('2-0', 2), { shard, epoch: a }), true);
    t.strictSame(await snapshots.get(key), { ...snapshot('2-0', 2), epoch: a }, 'a fenced snapshot reads back with its epoch');

    // node-a stops renewing (paused, partitioned): its lease runs out.
    t.equal(await leases.renew(shard, 'node-a', a, SHORT), true);
    await waitFor('node-a lease to expire', async () => (await leases.holder(shard)) === null);
    await t.rejects(snapshots.put(snapshot('3-0', 3), { shard, epoch: a }), new FencedError(shard, a, null), 'an expired lease does not write');
    t.strictSame(await leases.acquire(shard, 'node-b', LONG), { epoch: b });
    await t.rejects(snapshots.put(snapshot('4-0', 4), { shard, epoch: a }), new FencedError(shard, a, b), 'the stale owner is refused');
    t.strictSame(await snapshots.get(key), { ...snapshot('2-0', 2), epoch: a }, 'the refused write left the snapshot unchanged');
    await t.rejects(snapshots.put(snapshot('5-0', 5), { shard, epoch: b + 1 }), new FencedError(shard, b + 1, b), 'a future epoch is refused too');

    t.equal(await snapshots.put(snapshot('1-9', 6), { shard, epoch: b }), false, 'the owner still cannot go back in the log');
    t.equal(await snapshots.put(snapshot('6-0', 7), { shard, epoch: b }), true);
    t.strictSame(await snapshots.get(key), { ...snapshot('6-0', 7), epoch: b });
    t.equal(await snapshots.put(snapshot('7-0', 8)), true, 'unfenced puts still work (tools, migrations)');
    t.strictSame(await snapshots.get(key), snapshot('7-0', 8), 'and carry no epoch');

    const other = shard === 0 ? 1 : 0;
    await t.rejects(snapshots.put(snapshot('8-0', 9), { shard: other, epoch: b }), RangeError, 'a fence must name the key\'s own shard');
  });
}
