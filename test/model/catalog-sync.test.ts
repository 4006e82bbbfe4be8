import t from 'tap';
import { CatalogIndex } from '../../src/model/catalog.js';
import { CatalogSync } from '../../src/model/catalog-sync.js';
import { MemoryCatalogStore } from '../../src/store/memory.js';
import type { CatalogStore } from '../../src/store/types.js';

function syncOf(store: CatalogStore) {
  const index = new CatalogIndex();
  const stockChanged: string[][] = [];
  const errors: string[] = [];
  const load = () => CatalogSync.load({ store, index, pollMs: 10, onStockChanged: (ids) => stockChanged.push(ids), onError: (err, context) => errors.push(`${context}: ${String(err)}`) });
  return { index, stockChanged, errors, load };
}

t.test('another node\'s writes reach this copy at the next poll: only what changed is re-read', async (t) => {
  const store = new MemoryCatalogStore();
  await store.upsert([{ itemId: 'a', inStock: true }, { itemId: 'b', inStock: true }]);
  const here = syncOf(store);
  const sync = await here.load();
  t.strictSame(here.index.all().map((i) => i.itemId), ['a', 'b']);
  let reads: string[] = [];
  const get = store.get.bind(store);
  store.get = async (ids) => {
    reads = [...ids];
    return get(ids);
  };
  await store.upsert([{ itemId: 'b', inStock: false }, { itemId: 'c', price: 3 }]);
  t.equal(here.index.isInStock('b'), true, 'not before the poll');
  await sync.poll();
  t.strictSame(reads, ['b', 'c'], 'read back only the written ids');
  t.equal(here.index.isInStock('b'), false);
  t.equal(here.index.get('c')?.price, 3);
  t.strictSame(here.stockChanged, [['b']], 'stock changes are reported once');
  await sync.poll();
  t.strictSame(here.stockChanged, [['b']], 'a poll with no writes changes nothing');
  t.equal(sync.appliedVersion, await store.version());
});

t.test('a copy the change log no longer reaches re-reads the whole catalog', async (t) => {
  const store = new MemoryCatalogStore(2);
  await store.upsert([{ itemId: 'a' }]);
  const here = syncOf(store);
  const sync = await here.load();
  for (const itemId of ['x', 'y', 'z']) await store.upsert([{ itemId }]);
  await store.upsert([{ itemId: 'a', inStock: false }]);
  await sync.poll();
  t.strictSame(here.index.all().map((i) => i.itemId).sort(), ['a', 'x', 'y', 'z']);
  t.strictSame(here.stockChanged, [['a']]);
  t.equal(sync.appliedVersion, 5);
});

t.test('a failed poll keeps the copy and reports; the next one catches up', async (t) => {
  const store = new MemoryCatalogStore();
  await store.upsert([{ itemId: 'a' }]);
  const here = syncOf(store);
  const sync = await here.load();
  await store.upsert([{ itemId: 'a', inStock: false }]);
  const changesSince = store.changesSince.bind(store);
  store.changesSince = async () => {
    throw new Error('redis down');
  };
  await sync.poll();
  t.strictSame(here.errors, ['catalog sync: Error: redis down']);
  t.equal(here.index.isInStock('a'), true);
  store.changesSince = changesSince;
  await sync.poll();
  t.equal(here.index.isInStock('a'), false);
});

t.test('started, it polls by itself until stopped', async (t) => {
  const store = new MemoryCatalogStore();
  const here = syncOf(store);
  const sync = await here.load();
  sync.start();
  await store.upsert([{ itemId: 'n', inStock: false }]);
  const deadline = Date.now() + 2000;
  while (here.index.get('n') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.equal(here.index.isInStock('n'), false);
  await sync.stop();
  await store.upsert([{ itemId: 'after-stop' }]);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(here.index.get('after-stop'), undefined);
});
