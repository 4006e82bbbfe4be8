import t from 'tap';
import { createMemoryStores, MemoryCatalogStore, MemoryPushLog } from '../../src/store/memory.js';
import { compareEventIds } from '../../src/store/types.js';
import { storeConformance } from './conformance.js';

storeConformance(t, 'memory', async () => createMemoryStores());

t.test('event ids compare as (ms, seq) numbers, not strings', async (t) => {
  t.ok(compareEventIds('9-0', '10-0') < 0);
  t.ok(compareEventIds('10-2', '10-10') < 0);
  t.equal(compareEventIds('10-2', '10-2'), 0);
  t.ok(compareEventIds(null, '0-0') < 0);
});

t.test('memory catalog: a copy older than the change log reaches must re-read everything', async (t) => {
  const catalog = new MemoryCatalogStore(2);
  for (const itemId of ['a', 'b', 'c']) await catalog.upsert([{ itemId }]);
  t.strictSame(await catalog.changesSince(1), { version: 3, itemIds: ['b', 'c'] });
  t.equal(await catalog.changesSince(0), null, 'the first write is no longer logged');
});

t.test('memory pushes: only the latest per key are kept', async (t) => {
  const pushes = new MemoryPushLog(2);
  for (const cause of ['1-0', '2-0', '3-0']) await pushes.record('u:k', { at: 1, cause, items: [], modelVersion: 'm', recommendationId: cause });
  t.strictSame((await pushes.read('u:k')).map((p) => p.cause), ['2-0', '3-0']);
});
