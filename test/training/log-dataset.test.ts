import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { initialState } from '../../src/session/state.js';
import { readBundle } from '../../src/model/bundle.js';
import { compareEventIds, logDataset, logInteractions } from '../../src/training/log-dataset.js';
import { runTrain } from '../../src/cli/train.js';
import { createMemoryStores } from '../../src/store/memory.js';
import { createRedisStores } from '../../src/store/redis/index.js';
import { capture } from '../helpers.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

const view = (sessionId: string, itemId: string, sentAt: number, userId?: string) =>
  ({ kind: 'interaction', sessionId, ...(userId === undefined ? {} : { userId }), eventType: 'view', itemId, sentAt, receivedAt: sentAt }) as const;

t.test('the event log as training data: sessions count for the user they were identified as, merges are skipped', async (t) => {
  const stores = createMemoryStores();
  await stores.log.append('u:ann', view('tab', 'b', 2000, 'ann'));
  await stores.log.append('u:ann', { kind: 'merge', fromKey: 's:tab', receivedAt: 2500, state: initialState() });
  await stores.log.append('u:ann', { ...view('tab', 'c', 1500, 'ann'), eventType: 'purchase', eventValue: 9.5 });
  await stores.log.append('s:tab', view('tab', 'a', 1000));
  await stores.identities.link('tab', 'ann');
  await stores.log.append('s:anon', view('anon', 'z', 500));
  const progress: string[] = [];
  t.strictSame(await logInteractions(stores, (done, total) => progress.push(`${done}/${total}`)), [
    { userId: 'ann', itemId: 'a', timestamp: 1000, eventType: 'view' },
    { userId: 'ann', itemId: 'c', timestamp: 1500, eventType: 'purchase', eventValue: 9.5 },
    { userId: 'ann', itemId: 'b', timestamp: 2000, eventType: 'view' },
    { userId: 's:anon', itemId: 'z', timestamp: 500, eventType: 'view' },
  ]);
  t.strictSame(progress, ['3/3']);
});

t.test('the log read as a data set names its window: the first and last interaction ids', async (t) => {
  let now = 5000;
  const stores = createMemoryStores({ now: () => now });
  t.strictSame(await logDataset(stores), { interactions: [], firstEventId: null, lastEventId: null });
  const first = await stores.log.append('s:b', view('b', 'x', 1));
  now = 6000;
  await stores.log.append('s:a', view('a', 'y', 2));
  const last = await stores.log.append('s:a', view('a', 'z', 3));
  await stores.log.append('s:a', { kind: 'merge', fromKey: 's:c', receivedAt: 7000, state: initialState() });
  const dataset = await logDataset(stores);
  t.equal(dataset.interactions.length, 3);
  t.strictSame([dataset.firstEventId, dataset.lastEventId], [first.eventId, last.eventId]);
  t.strictSame([first.eventId, last.eventId], ['5000-0', '6000-1']);
  t.ok(compareEventIds('999-5', '1000-0') < 0 && compareEventIds('1000-2', '1000-10') < 0 && compareEventIds('7-1', '7-1') === 0);
});

t.test('attune train --redis trains a bundle from a cluster\'s log and catalog', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const stores = await createRedisStores({ url: redis.url, shardCount: 8 });
  t.teardown(() => stores.close());
  await stores.catalog.upsert(Array.from({ length: 40 }, (_, i) => ({ itemId: `i${i}`, category: `c${i % 4}` })));
  // 40 users walking one of four 10-item cycles: 1,200 interactions.
  for (let u = 0; u < 40; u++) {
    for (let s = 0; s < 30; s++) await stores.log.append(`u:user${u}`, view('import', `i${(u % 4) * 10 + ((u + s) % 10)}`, 1_700_000_000_000 + s * 60_000, `user${u}`));
  }
  const out = await mkdtemp(join(tmpdir(), 'attune-train-log-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const result = await capture(() => runTrain(['--redis', redis.url, '--shards', '8', '--out', out, '--budget', '10', '--no-embeddings']));
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /read 1200 interactions and 40 catalog items/);
  const bundle = await readBundle(out);
  t.match(bundle.manifest.parameters, { dataset: 'event log', format: 'log', protocol: 'leave-one-out' });
  t.equal(bundle.manifest.itemCount, 40);
  const mixed = await capture(() => runTrain(['--redis', redis.url, '--data', 'x.csv', '--out', out]));
  t.match(mixed, { code: 2, stderr: /give no --data, --format or --items/ });
});
