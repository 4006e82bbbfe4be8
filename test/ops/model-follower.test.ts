import t from 'tap';
import { ModelFollower, type FollowedSlot } from '../../src/ops/model-follower.js';
import type { ModelManifest } from '../../src/model/types.js';
import { createMemoryStores } from '../../src/store/memory.js';
import type { ModelEntry, Stores } from '../../src/store/types.js';
import { newEntry } from '../store/models-conformance.js';

/**
 * A slot that "loads" a directory by its name: `/models/<version>` becomes that version, and a
 * directory listed in `broken` fails. What the follower does with a real ModelSlot is tested with
 * real bundles in test/transport/model-registry.test.ts and test/cluster/model-registry.test.ts.
 */
class FakeSlot implements FollowedSlot {
  manifest: ModelManifest;
  dir: string;
  loads: string[] = [];
  readonly broken = new Set<string>();

  constructor(version: string) {
    this.manifest = manifestOf(version);
    this.dir = `/models/${version}`;
  }

  async swap(dir: string, accept: (candidate: { manifest: ModelManifest }) => void) {
    this.loads.push(dir);
    await new Promise((resolve) => setImmediate(resolve));
    if (this.broken.has(dir)) throw new Error(`${dir}: model.onnx cannot be loaded`);
    const next = manifestOf(dir.slice('/models/'.length));
    accept({ manifest: next });
    const previous = this.manifest;
    this.manifest = next;
    this.dir = dir;
    return { previous, current: next };
  }
}

function manifestOf(version: string): ModelManifest {
  return { version, createdAt: '2026-12-05T07:00:00.000Z', trainingDataHash: 'h', parameters: {}, metrics: {}, interactions: 10 } as unknown as ModelManifest;
}

function follower(stores: Stores, slot: FakeSlot, clock: { now: number }) {
  const events: string[] = [];
  const f = new ModelFollower({
    registry: stores.models,
    bus: stores.bus,
    slot,
    pollMs: 3_600_000,
    now: () => clock.now,
    retryFailedMs: 1000,
    onSwapped: ({ previous, current }) => events.push(`swapped ${previous.version} -> ${current.version}`),
    onLoadFailed: (entry: ModelEntry) => events.push(`failed ${entry.version}`),
    onBootstrapped: (entry) => events.push(`bootstrapped ${entry.version}`),
    onError: (err) => events.push(`error ${String(err)}`),
  });
  return { follower: f, events };
}

t.test('an empty registry takes the first node\'s bundle; a second node starting with another bundle follows it instead', async (t) => {
  const stores = createMemoryStores();
  const clock = { now: 1000 };
  const a = new FakeSlot('m-a');
  const b = new FakeSlot('m-b');
  const first = follower(stores, a, clock);
  const second = follower(stores, b, clock);
  t.teardown(() => Promise.all([first.follower.stop(), second.follower.stop()]));
  await Promise.all([first.follower.start(), second.follower.start()]);
  const live = await stores.models.live();
  t.ok(live !== null && ['m-a', 'm-b'].includes(live.version), 'one of them is live');
  t.equal(a.manifest.version, live?.version, 'both serve it');
  t.equal(b.manifest.version, live?.version);
  t.strictSame((await stores.models.list()).map((e) => e.state).sort(), ['candidate', 'live'], 'the other bundle stays a candidate');
  t.equal([...first.events, ...second.events].filter((e) => e.startsWith('bootstrapped')).length, 1, 'exactly one node bootstrapped');
});

t.test('a version that fails to load is retried no more than every retryFailedMs; a new live version at once', async (t) => {
  const stores = createMemoryStores();
  const clock = { now: 1000 };
  const slot = new FakeSlot('m-1');
  const { follower: f, events } = follower(stores, slot, clock);
  t.teardown(() => f.stop());
  await f.start();
  await stores.models.register(newEntry('m-2', 2000));
  await stores.models.register(newEntry('m-3', 2001));
  slot.broken.add('/models/m-2');
  await stores.models.promote('m-2', 2002);

  await f.sync();
  t.strictSame(f.status(), { wantedModelVersion: 'm-2', modelLoadError: '/models/m-2: model.onnx cannot be loaded' });
  await f.sync();
  clock.now += 999;
  await f.sync();
  t.strictSame(slot.loads, ['/models/m-2'], 'not tried again within the retry time');
  clock.now += 1;
  await f.sync();
  t.strictSame(slot.loads, ['/models/m-2', '/models/m-2'], 'then once more');

  slot.broken.delete('/models/m-2');
  await stores.models.promote('m-3', 3000);
  await f.sync();
  t.equal(slot.manifest.version, 'm-3', 'a new live version is loaded at once');
  t.strictSame(f.status(), { wantedModelVersion: null, modelLoadError: null });
  t.strictSame(events, ['bootstrapped m-1', 'failed m-2', 'failed m-2', 'swapped m-1 -> m-3']);
});

t.test('changes announced while a check runs are caught by one more check, not one per message', async (t) => {
  const stores = createMemoryStores();
  const clock = { now: 1000 };
  const slot = new FakeSlot('m-1');
  const { follower: f } = follower(stores, slot, clock);
  t.teardown(() => f.stop());
  await f.start();
  for (const [i, version] of ['m-2', 'm-3', 'm-4'].entries()) await stores.models.register(newEntry(version, 2000 + i));
  await stores.models.promote('m-2', 3000);
  const running = f.sync();
  await stores.models.promote('m-3', 3001);
  const queued = [f.sync(), f.sync()];
  await stores.models.promote('m-4', 3002);
  await Promise.all([running, ...queued]);
  t.equal(slot.manifest.version, 'm-4', 'the node ends on the version live after the last call');
  t.ok(slot.loads.length <= 2, `${slot.loads.length} loads for three promotes`);
});

t.test('a directory rewritten since it was registered is refused: the node keeps its model', async (t) => {
  const stores = createMemoryStores();
  const clock = { now: 1000 };
  const slot = new FakeSlot('m-1');
  const { follower: f, events } = follower(stores, slot, clock);
  t.teardown(() => f.stop());
  await f.start();
  await stores.models.register({ ...newEntry('m-2', 2000), dir: '/models/m-other' });
  await stores.models.promote('m-2', 2001);
  await f.sync();
  t.equal(slot.manifest.version, 'm-1');
  t.strictSame(f.status(), { wantedModelVersion: 'm-2', modelLoadError: 'the bundle in /models/m-other is now version m-other, not m-2' });
  t.strictSame(events, ['bootstrapped m-1', 'failed m-2']);
});
