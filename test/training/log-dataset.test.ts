import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { initialState } from '../../src/session/state.js';
import { readBundle } from '../../src/model/bundle.js';
import { logInteractions, logTrainingData } from '../../src/training/log-dataset.js';
import { compareEventIds } from '../../src/store/types.js';
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
  const ids = (await Promise.all(['u:ann', 's:tab', 's:anon'].map((key) => stores.log.read(key, null)))).flat().filter((e) => e.kind === 'interaction').map((e) => e.eventId).sort(compareEventIds);
  t.match(await logTrainingData(stores), { firstEventId: ids[0], lastEventId: ids.at(-1) }, 'the window spans the interactions read, merges left out');
  t.strictSame(await logTrainingData(createMemoryStores()), { interactions: [], firstEventId: null, lastEventId: null });
});

t.test('attune train --redis trains a bundle from a cluster\'s log and catalog', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const stores = await createRedisStores({ url: redis.url, shardCount: 8 });
  t.teardown(() => stores.close());
  await stores.catalog.upsert(Array.from({ length: 40 }, (_, i) => ({ itemId: `i${i}`, category: `c${i % 4}` })));
  // 40 users walking one of four 10-item cycles: 1,200 interactions.
  const appended: string[] = [];
  for (let u = 0; u < 40; u++) {
    for (let s = 0; s < 30; s++) appended.push((await stores.log.append(`u:user${u}`, view('import', `i${(u % 4) * 10 + ((u + s) % 10)}`, 1_700_000_000_000 + s * 60_000, `user${u}`))).eventId);
  }
  appended.sort(compareEventIds);
  const out = await mkdtemp(join(tmpdir(), 'attune-train-log-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const result = await capture(() => runTrain(['--redis', redis.url, '--shards', '8', '--out', out, '--budget', '10', '--no-embeddings', '--parent', 'item-item-0123456789ab']));
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /read 1200 interactions and 40 catalog items/);
  const bundle = await readBundle(out);
  t.match(bundle.manifest.parameters, { dataset: 'event log', format: 'log', protocol: 'leave-one-out' });
  t.equal(bundle.manifest.itemCount, 40);
  t.strictSame(bundle.manifest.lineage, { source: 'event log', firstEventId: appended[0], lastEventId: appended.at(-1), rows: 1200, parentVersion: 'item-item-0123456789ab' }, 'the training window, rows and parent');
  const mixed = await capture(() => runTrain(['--redis', redis.url, '--data', 'x.csv', '--out', out]));
  t.match(mixed, { code: 2, stderr: /give no --data, --format or --items/ });
});
