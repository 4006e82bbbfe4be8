import type { Test } from 'tap';
import type { ModelLineage, NewModelEntry, Stores } from '../../src/store/types.js';

/** A lineage as training writes it; `rows` tells entries apart. */
export function lineage(rows: number, parentVersion: string | null = null): ModelLineage {
  return {
    dataHash: `hash-${rows}`,
    parentVersion,
    source: 'event log',
    firstEventId: '1700000000000-0',
    lastEventId: `1700000000${String(rows).padStart(3, '0')}-7`,
    rows,
    trainedAt: '2026-12-05T07:00:00.000Z',
    parameters: { neighbours: 50, halfLifeMs: 1_800_000, dataset: 'event log' },
  };
}

export function newEntry(version: string, registeredAt: number, rows = 100): NewModelEntry {
  // Full double precision: a metric must come back exactly as registered.
  return { version, dir: `/models/${version}`, registeredAt, lineage: lineage(rows), metrics: { 'validation.hr@20': 0.123456789012345678, 'validation.mrr@20': 1 / 3 } };
}

const STAGE = { code: 'ATTUNE_ERR_MODEL_STAGE', statusCode: 409 };
const EXISTS = { code: 'ATTUNE_ERR_MODEL_EXISTS', statusCode: 409 };
const NOT_FOUND = { code: 'ATTUNE_ERR_MODEL_NOT_FOUND', statusCode: 404 };

/**
 * The behaviour every model registry owes the nodes that follow it and the admins that change it.
 * `peer` opens another node's stores over the same data (memory: the same stores).
 */
export function modelRegistryConformance(t: Test, name: string, createStores: () => Promise<Stores>, peer: (stores: Stores) => Promise<Stores>): void {
  const withStores = (title: string, body: (t: Test, stores: Stores, other: Stores) => Promise<void>): void => {
    t.test(`${name}: model registry: ${title}`, async (t) => {
      const stores = await createStores();
      t.teardown(() => stores.close());
      const other = await peer(stores);
      if (other !== stores) t.teardown(() => other.close());
      await body(t, stores, other);
    });
  };

  withStores('register adds candidates, once per version; get and list read them back exactly', async (t, { models }, other) => {
    t.equal(await models.live(), null, 'an empty registry has no live version');
    t.strictSame(await models.list(), []);
    const a = newEntry('m-a', 2000, 100);
    const registered = await models.register(a);
    t.strictSame(registered, { ...a, state: 'candidate', promotedAt: null, retiredAt: null, previousLive: null });
    await models.register(newEntry('m-c', 1000, 300));
    await models.register(newEntry('m-b', 2000, 200));
    t.strictSame(await other.models.get('m-a'), registered, 'another node reads it as registered, metrics to the last digit');
    t.equal(await models.get('m-none'), null);
    t.strictSame((await other.models.list()).map((e) => e.version), ['m-c', 'm-a', 'm-b'], 'oldest registration first, ties by version');
    await t.rejects(models.register({ ...newEntry('m-a', 3000), dir: '/elsewhere' }), { ...EXISTS, message: 'model m-a is registered already' });
    t.strictSame(await models.get('m-a'), registered, 'a refused register changes nothing');
    t.equal(await models.live(), null, 'registering promotes nothing');
  });

  withStores('promote makes one version live and retires the one before, which it remembers', async (t, { models }, other) => {
    for (const [i, version] of ['m-1', 'm-2', 'm-3'].entries()) await models.register(newEntry(version, 1000 + i));
    const first = await models.promote('m-1', 5000);
    t.strictSame(first.previous, null);
    t.match(first.live, { version: 'm-1', state: 'live', promotedAt: 5000, retiredAt: null, previousLive: null });
    const second = await other.models.promote('m-2', 6000);
    t.match(second.live, { version: 'm-2', state: 'live', promotedAt: 6000, retiredAt: null, previousLive: 'm-1' });
    t.match(second.previous, { version: 'm-1', state: 'retired', promotedAt: 5000, retiredAt: 6000 });
    t.strictSame(await models.live(), second.live, 'every node sees the new live version');
    t.strictSame((await models.list()).map((e) => [e.version, e.state]), [['m-1', 'retired'], ['m-2', 'live'], ['m-3', 'candidate']]);
    await t.rejects(models.promote('m-2', 7000), { ...STAGE, message: 'model m-2 is live already' });
    await t.rejects(models.promote('m-none', 7000), { ...NOT_FOUND, message: 'no model m-none in the registry' });
    const again = await models.promote('m-1', 8000);
    t.match(again.live, { version: 'm-1', state: 'live', promotedAt: 8000, previousLive: 'm-2' }, 'a retired version can be promoted again');
    t.match(again.previous, { version: 'm-2', state: 'retired', retiredAt: 8000 });
  });

  withStores('rollback goes back along the versions that were live, one step per call', async (t, { models }, other) => {
    await t.rejects(models.rollback(1), { ...STAGE, message: 'no model is live: nothing to roll back' });
    for (const [i, version] of ['m-1', 'm-2', 'm-3'].entries()) await models.register(newEntry(version, 1000 + i));
    await models.promote('m-1', 5000);
    await models.promote('m-2', 6000);
    await models.promote('m-3', 7000);
    const back = await other.models.rollback(8000);
    t.match(back.live, { version: 'm-2', state: 'live', promotedAt: 8000, previousLive: 'm-1' });
    t.match(back.previous, { version: 'm-3', state: 'retired', retiredAt: 8000, previousLive: 'm-2' });
    t.equal((await models.live())?.version, 'm-2');
    const further = await models.rollback(9000);
    t.match(further.live, { version: 'm-1', state: 'live', promotedAt: 9000, previousLive: null });
    t.match(further.previous, { version: 'm-2', state: 'retired', retiredAt: 9000 });
    await t.rejects(models.rollback(10_000), { ...STAGE, message: 'model m-1 was the first live version: there is no earlier one to roll back to' });
    t.equal((await models.live())?.version, 'm-1', 'a refused rollback changes nothing');
    t.strictSame((await models.list()).map((e) => e.state), ['live', 'retired', 'retired']);
  });

  withStores('retire puts a candidate aside; the live one and a retired one cannot be retired', async (t, { models }) => {
    await models.register(newEntry('m-1', 1000));
    await models.register(newEntry('m-2', 1001));
    await models.promote('m-1', 2000);
    t.match(await models.retire('m-2', 3000), { version: 'm-2', state: 'retired', retiredAt: 3000, promotedAt: null });
    await t.rejects(models.retire('m-2', 4000), { ...STAGE, message: 'model m-2 is retired already' });
    await t.rejects(models.retire('m-1', 4000), { ...STAGE, message: 'model m-1 is live: promote another version or roll back instead' });
    await t.rejects(models.retire('m-none', 4000), NOT_FOUND);
    t.match(await models.get('m-2'), { state: 'retired', retiredAt: 3000 }, 'refusals change nothing');
    t.match((await models.promote('m-2', 5000)).live, { version: 'm-2', state: 'live', previousLive: 'm-1' }, 'a retired candidate can still be promoted');
  });

  withStores('ifNoneLive: of nodes racing to bootstrap an empty registry, one promotes and the others are refused', async (t, { models }, other) => {
    for (const [i, version] of ['m-1', 'm-2', 'm-3'].entries()) await models.register(newEntry(version, 1000 + i));
    const outcomes = await Promise.allSettled(['m-1', 'm-2', 'm-3'].map((version, i) => (i === 1 ? other.models : models).promote(version, 2000, { ifNoneLive: true })));
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    t.equal(won.length, 1, 'one promote');
    const live = await models.live();
    t.match(won[0], { value: { live: { version: live?.version, previousLive: null }, previous: null } });
    for (const lost of outcomes.filter((o) => o.status === 'rejected')) t.match(lost, { reason: { ...STAGE, message: `a version is live already (${live?.version})` } });
    t.strictSame((await models.list()).map((e) => e.state).sort(), ['candidate', 'candidate', 'live'], 'the others stay candidates');
  });

  withStores('concurrent promotes from two nodes leave exactly one live version', async (t, { models }, other) => {
    const versions = ['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6'];
    for (const [i, version] of versions.entries()) await models.register(newEntry(version, 1000 + i));
    const changes = await Promise.all(versions.map((version, i) => (i % 2 === 0 ? models : other.models).promote(version, 2000 + i)));
    const all = await models.list();
    const live = all.filter((e) => e.state === 'live');
    t.equal(live.length, 1);
    t.strictSame(await other.models.live(), live[0]);
    t.equal(all.filter((e) => e.state === 'retired').length, versions.length - 1, 'every other one was live, then retired');
    // Each promote retired the one live just before it: the previousLive links form one chain.
    t.equal(changes.filter((c) => c.previous === null).length, 1, 'exactly one promote found nothing live');
    const previousOf = new Map(all.map((e) => [e.version, e.previousLive]));
    const chain: string[] = [];
    for (let at: string | null = live[0].version; at !== null; at = previousOf.get(at) ?? null) chain.push(at);
    t.strictSame([...chain].sort(), versions, 'the chain from the live version back passes every version once');
  });
}
