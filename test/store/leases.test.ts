import t from 'tap';
import { createMemoryStores } from '../../src/store/memory.js';
import { MemoryLeaseStore } from '../../src/store/memory-leases.js';
import { fnv1a32 } from '../../src/lib/fnv1a.js';
import { DEFAULT_SHARD_COUNT, shardOf } from '../../src/store/shard.js';
import { leaseConformance } from './leases-conformance.js';

leaseConformance(t, 'memory', async () => createMemoryStores({ shardCount: 16 }));

t.test('memory leases expire by the injected clock', async (t) => {
  let now = 1000;
  const leases = new MemoryLeaseStore(4, () => now);
  t.strictSame(await leases.acquire(0, 'a', 100), { epoch: 1 });
  t.strictSame(await leases.holder(0), { nodeId: 'a', epoch: 1, expiresAt: 1100 });
  now = 1099;
  t.equal(await leases.acquire(0, 'b', 100), null);
  now = 1100;
  t.equal(await leases.holder(0), null);
  t.equal(leases.currentEpoch(0), null);
  t.strictSame(await leases.acquire(0, 'b', 100), { epoch: 2 });
  t.equal(leases.currentEpoch(0), 2);
});

t.test('shardOf: FNV-1a 32 over UTF-8, modulo the shard count', async (t) => {
  // Published FNV-1a test vectors.
  t.equal(fnv1a32(''), 0x811c9dc5);
  t.equal(fnv1a32('a'), 0xe40c292c);
  t.equal(fnv1a32('foobar'), 0xbf9cf968);
  const viaEncoder = (text: string): number => {
    let hash = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193);
    return hash >>> 0;
  };
  for (const text of ['s:abc', 'u:alice', 'u:é', 'u:日本', 'u:😀', 'u:\ud800', 'u:\udc00x', 'u:a\ud83d']) {
    t.equal(fnv1a32(text), viaEncoder(text), `UTF-8 bytes of ${JSON.stringify(text)}`);
  }
  t.equal(shardOf('u:alice', DEFAULT_SHARD_COUNT), fnv1a32('u:alice') % 256);
  t.equal(shardOf('anything', 1), 0);
  t.throws(() => shardOf('x', 0), RangeError);
  t.throws(() => shardOf('x', 2.5), RangeError);
});

t.test('createMemoryStores still needs no arguments', async (t) => {
  const stores = createMemoryStores();
  t.equal(stores.shardCount, DEFAULT_SHARD_COUNT);
  t.strictSame(await stores.leases.acquire(0, 'a', 1000), { epoch: 1 });
});
