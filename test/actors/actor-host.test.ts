import t, { type Test } from 'tap';
import { ActorHost, type RecommendationsPush } from '../../src/actors/actor-host.js';
import { sessionKey, userKey } from '../../src/session/events.js';
import { decodeSnapshot } from '../../src/session/snapshot.js';
import { initialState, reduce } from '../../src/session/state.js';
import { mergeConfig, type AttuneConfig } from '../../src/config.js';
import { demoCatalog } from '../../src/demo/catalog.js';
import { AttuneError } from '../../src/errors.js';
import { CatalogIndex } from '../../src/model/catalog.js';
import { readBundle } from '../../src/model/bundle.js';
import { Scorer } from '../../src/model/scorer.js';
import { servingModel } from '../../src/model/serving-model.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { createMemoryStores } from '../../src/store/memory.js';
import { demoModelDir, waitFor } from '../helpers.js';

async function setup(t: Test, actors: Partial<AttuneConfig['actors']> = { idleMs: 40, passivateMs: 40 }, loadScorer = async () => Scorer.load(await demoModelDir())) {
  const config = mergeConfig({ actors, pushSize: 10 });
  const stores = createMemoryStores();
  const catalog = new CatalogIndex(demoCatalog());
  const scorer = await loadScorer();
  const metrics = createMetrics();
  const model = servingModel(scorer, config.reducer);
  const pushes: Array<{ room: string; push: RecommendationsPush }> = [];
  const errors: unknown[] = [];
  const host = new ActorHost({
    config,
    stores,
    catalog,
    model: () => model,
    metrics,
    onError: (err) => errors.push(err),
  });
  host.onPush((room, push) => pushes.push({ room, push }));
  t.teardown(async () => {
    await host.stop();
    await scorer.close();
  });
  return { host, stores, metrics, pushes, errors, scorer };
}

const views = (...items: string[]) => items.map((itemId, i) => ({ eventType: 'view', itemId, sentAt: 1_000_000 + i * 1000 }));

t.test('a passivated actor rehydrates to an equal state', async (t) => {
  const { host, stores, metrics, errors } = await setup(t);
  await host.ingest({ sessionId: 'p1' }, [...views('shoes-001', 'shoes-002', 'bags-004'), { eventType: 'purchase', itemId: 'shoes-002', sentAt: 1_010_000 }]);
  const key = sessionKey('p1');
  t.ok(host.isLive(key));
  const live = await host.currentState(key);
  t.equal(live.eventCount, 4);

  await waitFor('passivation', () => !host.isLive(key));
  await waitFor('snapshot write', async () => (await stores.snapshots.get(key)) !== null);
  t.equal((await metrics.passivations.get()).values[0].value, 1);
  const stored = await stores.snapshots.get(key);
  t.strictSame(stored === null ? null : decodeSnapshot(stored).state, live, 'the snapshot holds the live state');
  t.strictSame(await host.currentState(key), live, 'rehydrated state equals the live one');

  // The next event rehydrates the actor and applies on top, as a fold of the whole log would.
  await host.ingest({ sessionId: 'p1' }, [{ eventType: 'view', itemId: 'watches-003', sentAt: 1_020_000 }]);
  t.ok(host.isLive(key));
  const fromLog = (await stores.log.read(key, null)).reduce((s, e) => reduce(s, e), initialState());
  t.strictSame(await host.currentState(key), fromLog);
  t.equal(fromLog.eventCount, 5);
  t.strictSame(errors, [], 'no errors reported');
});

t.test('a push goes to the actor room only when the top-N changed', async (t) => {
  const { host, pushes, metrics, errors } = await setup(t, { idleMs: 60_000, passivateMs: 60_000 });
  const [first] = await host.ingest({ sessionId: 'c1' }, [{ eventType: 'view', itemId: 'coffee-010', sentAt: 5000 }]);
  await waitFor('first push', () => pushes.length === 1);
  t.equal(pushes[0].room, sessionKey('c1'));
  t.strictSame(pushes[0].push.cause, { eventId: first.eventId, eventType: 'view', itemId: 'coffee-010' });
  t.equal(pushes[0].push.items.length, 10);
  t.match(pushes[0].push.modelVersion, /^item-item-/);

  // An item the model does not know, at the same instant: the model input and so the list are unchanged.
  // Its scoring pass (the second) has ended once the scoring latency has two observations; a push
  // would have been sent in that same pass.
  await host.ingest({ sessionId: 'c1' }, [{ eventType: 'view', itemId: 'not-in-model', sentAt: 5000 }]);
  const scoringPasses = async () => (await metrics.inferenceLatency.get()).values.find((v) => v.metricName === 'attune_inference_latency_seconds_count')?.value;
  await waitFor('the second scoring pass', async () => (await scoringPasses()) === 2);
  t.equal(pushes.length, 1, 'no push for an unchanged list');
  t.equal((await metrics.pushes.get()).values[0].value, 1);

  await host.ingest({ sessionId: 'c1' }, [{ eventType: 'view', itemId: 'books-020', sentAt: 6000 }]);
  await waitFor('second push', () => pushes.length === 2);
  t.ok(pushes[1].push.items.some((i) => i.itemId.startsWith('books-')), 'the new interest shows');
  t.strictSame(errors, [], 'no errors reported');
});

t.test('identify merges the anonymous session into the user and routes later events to the user', async (t) => {
  const { host, stores, pushes, errors } = await setup(t, { idleMs: 60_000, passivateMs: 60_000 });
  await host.ingest({ sessionId: 'anon' }, views('plants-001', 'plants-002'));
  const anonymous = await host.currentState(sessionKey('anon'));
  await host.ingest({ sessionId: 'other-device', userId: 'alice' }, views('books-001'));
  const before = await host.currentState(userKey('alice'));

  t.equal(await host.identify('anon', 'alice'), userKey('alice'));
  t.notOk(host.isLive(sessionKey('anon')), 'the anonymous actor is gone');
  const merged = await host.currentState(userKey('alice'));
  t.equal(merged.eventCount, before.eventCount + anonymous.eventCount);
  t.strictSame(merged.itemSums.map(([id]) => id).sort(), ['books-001', 'plants-001', 'plants-002']);

  await host.ingest({ sessionId: 'anon' }, [{ eventType: 'view', itemId: 'plants-003', sentAt: 2_000_000 }]);
  const userLog = await stores.log.read(userKey('alice'), null);
  t.strictSame(
    userLog.map((e) => (e.kind === 'merge' ? `merge:${e.fromKey}` : e.itemId)),
    ['books-001', 'merge:s:anon', 'plants-003'],
  );
  t.equal((await stores.log.read(sessionKey('anon'), null)).length, 2, 'nothing more lands in the session log');
  await waitFor('a push to the user room', () => pushes.some((p) => p.room === userKey('alice') && p.push.cause?.itemId === 'plants-003'));

  t.equal(await host.identify('anon', 'alice'), userKey('alice'), 'identifying again is a no-op');
  await t.rejects(host.identify('anon', 'bob'), new AttuneError('IDENTITY_CONFLICT', 'session anon is already identified as another user'));
  t.strictSame(errors, [], 'no errors reported');
});

t.test('a bad sentAt rejects the whole batch before anything is logged', async (t) => {
  const { host, stores, errors } = await setup(t);
  await t.rejects(host.ingest({ sessionId: 'b1' }, [{ eventType: 'view', itemId: 'a' }, { eventType: 'view', itemId: 'b', sentAt: 'yesterday' }]), {
    code: 'ATTUNE_ERR_VALIDATION',
  });
  t.strictSame(await stores.log.read(sessionKey('b1'), null), []);
  t.strictSame(errors, [], 'no errors reported');
});

t.test('when inference fails the push carries popular items and the fallback is counted', async (t) => {
  // onnxruntime cannot be made to fail on demand, so this session stands in for a broken one.
  const failing = async () =>
    new Scorer(await readBundle(await demoModelDir()), {
      run: async () => {
        throw new Error('inference exploded');
      },
      release: async () => {},
    });
  const { host, pushes, metrics, errors, scorer } = await setup(t, { idleMs: 60_000, passivateMs: 60_000 }, failing);
  await host.ingest({ sessionId: 'f1' }, [{ eventType: 'view', itemId: 'coffee-010', sentAt: 5000 }, { eventType: 'purchase', itemId: 'headphones-001', sentAt: 5000 }]);
  await waitFor('the push after the purchase', () => pushes.some((p) => p.push.cause?.itemId === 'headphones-001'));
  const popular = (await Scorer.load(await demoModelDir())).popular(40).map((i) => i.itemId);
  const catalog = new CatalogIndex(demoCatalog());
  const expected = popular.filter((id) => id !== 'headphones-001' && catalog.isInStock(id)).slice(0, 10);
  t.strictSame(pushes.at(-1)?.push.items.map((i) => i.itemId), expected, 'popular items, still filtered');
  const fallbacks = await metrics.inferenceFallbacks.get();
  t.ok(scorer.stats.rows >= 1);
  t.strictSame(fallbacks.values.map((v) => [v.labels.reason, v.value]), [['error', scorer.stats.rows]], 'every failed scoring is counted');
  t.strictSame(errors, [], 'a fallback is not an error');
});

t.test('snapshots trim the log they cover, and the state survives passivation from what is left', async (t) => {
  const { host, stores, errors } = await setup(t, { idleMs: 150, passivateMs: 10, snapshotEvery: 3, logKeep: 1 });
  const key = sessionKey('trim');
  const accepted = await host.ingest({ sessionId: 'trim' }, views('bags-001', 'bags-002', 'bags-003', 'shoes-001', 'shoes-002', 'shoes-003', 'books-001'));
  const expected = accepted.reduce((s, e) => reduce(s, e), initialState());
  const ids = (entries: Array<{ eventId: string }>) => entries.map((e) => e.eventId);
  // Write-behind snapshots after events 3 and 6: the 6th stays as the one kept, the 7th is not covered.
  await waitFor('the write-behind trim', async () => (await stores.log.read(key, null)).length === 2);
  t.strictSame(ids(await stores.log.read(key, null)), ids(accepted.slice(5)));
  await waitFor('passivation', () => !host.isLive(key));
  await waitFor('the final snapshot', async () => (await stores.snapshots.get(key))?.lastEventId === accepted[6].eventId);
  t.strictSame(ids(await stores.log.read(key, null)), ids(accepted.slice(6)), 'the final snapshot covers all; one kept');
  t.strictSame(await host.currentState(key), expected);
  t.strictSame(errors, [], 'no errors reported');
});

t.test('an owner on a shared log applies its own appends without reading them back, and reads back when another node appended in between', async (t) => {
  const config = mergeConfig({ actors: { idleMs: 60_000, passivateMs: 60_000 }, pushSize: 10 });
  const stores = createMemoryStores();
  const reads: string[] = [];
  const read = stores.log.read.bind(stores.log);
  stores.log.read = async (key, afterId) => {
    reads.push(`${key} after ${afterId}`);
    return read(key, afterId);
  };
  const scorer = await Scorer.load(await demoModelDir());
  const model = servingModel(scorer, config.reducer);
  const errors: unknown[] = [];
  const host = new ActorHost({
    config,
    stores,
    catalog: new CatalogIndex(demoCatalog()),
    model: () => model,
    metrics: createMetrics(),
    onError: (err) => errors.push(err),
    // Every shard is this node's, but other nodes may append to the same logs.
    placement: { claim: () => 'alone', sharedLog: true, wakeOwner: async () => {} },
  });
  t.teardown(async () => {
    await host.stop();
    await scorer.close();
  });
  const key = sessionKey('shared');
  const foldOfLog = async () => (await stores.log.read(key, null)).reduce((s, e) => reduce(s, e, config.reducer), initialState());

  await host.ingest({ sessionId: 'shared' }, views('shoes-001'));
  t.strictSame(reads, [`${key} after null`], 'the activation reads the (empty) log once');
  await host.ingest({ sessionId: 'shared' }, views('shoes-002', 'bags-004'));
  t.equal(reads.length, 1, 'its own appends are applied as appended: no read-back');
  const { eventId: _, ...foreign } = { ...(await stores.log.read(key, null))[0], itemId: 'watches-003' };
  reads.length = 0;
  const other = await stores.log.append(key, foreign);
  await host.ingest({ sessionId: 'shared' }, views('books-020', 'coffee-010'));
  t.equal(reads.length, 1, 'an entry of another node in between: the log is read back once');
  const state = await host.currentState(key);
  t.strictSame(state, await foldOfLog(), 'the live state is the fold of the log, in its order');
  t.equal(state.eventCount, 6, `the other node's entry (${other.eventId}) is applied once, with ours`);
  t.strictSame(errors, []);
});

t.test('a forward the owner took too late to answer is stored once: the sender appends it too, under the same dedup ids', async (t) => {
  const config = mergeConfig({ actors: { idleMs: 60_000, passivateMs: 60_000 }, pushSize: 10 });
  const stores = createMemoryStores();
  const scorer = await Scorer.load(await demoModelDir());
  const model = servingModel(scorer, config.reducer);
  const errors: unknown[] = [];
  const common = { config, stores, catalog: new CatalogIndex(demoCatalog()), model: () => model, metrics: createMetrics(), onError: (err: unknown) => errors.push(err) };
  const owner = new ActorHost({ ...common, placement: { claim: () => 'alone', sharedLog: true, wakeOwner: async () => {} } });
  const wakes: string[] = [];
  const sender = new ActorHost({
    ...common,
    placement: { claim: () => null, sharedLog: true, wakeOwner: async (key) => void wakes.push(key) },
    // The owner stores the batch, but its answer never comes back in time.
    forwardToOwner: async (key, batch) => {
      await owner.ingestForwarded(key, batch);
      return null;
    },
  });
  t.teardown(async () => {
    await sender.stop();
    await owner.stop();
    await scorer.close();
  });
  const key = sessionKey('late');
  const acked = await sender.ingest({ sessionId: 'late' }, [...views('shoes-001', 'bags-004'), { eventType: 'click', itemId: 'books-020', eventId: 'client-1' }]);
  const log = await stores.log.read(key, null);
  t.strictSame(log.map((entry) => entry.kind === 'interaction' && entry.itemId), ['shoes-001', 'bags-004', 'books-020'], 'each event once in the log');
  t.strictSame(acked.map((entry) => entry.eventId), log.map((entry) => entry.eventId), "the sender's ack names the owner's entries");
  t.notOk(log.some((entry) => entry.kind === 'interaction' && entry.clientEventId !== undefined && entry.clientEventId !== 'client-1'), 'a made-up dedup id is not stored as a client event id');
  t.equal((await owner.currentState(key)).eventCount, 3, 'the owner applied each once');
  t.strictSame(wakes, [key], 'and the sender woke the owner, as for any append it made itself');
  t.strictSame(errors, []);
});
