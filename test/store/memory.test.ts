import t from 'tap';
import { createMemoryStores, MemoryCatalogStore, MemoryPushLog } from '../../src/store/memory.js';
import { compareEventIds, DELETION_JOB_TTL_MS } from '../../src/store/types.js';
import { storeConformance } from './conformance.js';
import { modelRegistryConformance } from './models-conformance.js';

storeConformance(t, 'memory', async () => createMemoryStores());
modelRegistryConformance(t, 'memory', async () => createMemoryStores(), async (stores) => stores);

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

t.test('memory deletion jobs: a job is kept for DELETION_JOB_TTL_MS after its latest put', async (t) => {
  let now = 1_000_000;
  const stores = createMemoryStores({ now: () => now });
  const job = { id: 'j', state: 'done' as const, requestedAt: now, finishedAt: now, keysErased: 1 };
  await stores.deletionJobs.put(job);
  now += DELETION_JOB_TTL_MS - 1;
  t.strictSame(await stores.deletionJobs.get('j'), job);
  now += 1;
  t.equal(await stores.deletionJobs.get('j'), null);
});

t.test('memory audit: ids grow within one millisecond too', async (t) => {
  const stores = createMemoryStores({ now: () => 5 });
  const entry = { at: 5, actor: 'master', action: 'key.create', target: 'k', outcome: 'ok' as const };
  t.strictSame([await stores.audit.record(entry), await stores.audit.record(entry)], ['5-0', '5-1']);
  await t.rejects(stores.audit.read({ limit: -1 }), RangeError);
});
