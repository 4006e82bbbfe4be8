import t from 'tap';
import { demoInteractions } from '../../src/demo/catalog.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';
import type { RunningServer } from '../../src/server/start.js';
import type { ModelEntry } from '../../src/store/types.js';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';
import { demoBundle, unloadableBundle } from '../support/model-bundles.js';

type Reply = { status: number; body: Record<string, unknown> };

function admin(server: RunningServer) {
  return async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = { ...authHeaders };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
}

const error = (code: string, message: string | RegExp) => ({ body: { error: { code, message } } });

async function auditActions(server: RunningServer): Promise<string[]> {
  return (await server.stores.audit.read({ limit: 100 })).reverse().map((e) => `${e.action} ${e.target} ${e.outcome}`);
}

async function loadFailures(server: RunningServer): Promise<number> {
  return (await server.metrics.modelLoadFailures.get()).values[0]?.value ?? 0;
}

t.test('the registry over HTTP: register, promote, roll back, retire; this node follows each change, every change audited', async (t) => {
  const second = await demoBundle(t, 3, { 'validation.hr@20': 0.3125 });
  const third = await demoBundle(t, 4);
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const call = admin(server);
  const first = server.model.manifest.version;

  const listed = await call('GET', '/v1/admin/models');
  t.equal(listed.status, 200);
  t.match(listed.body, { live: first, nodeModelVersion: first, wantedModelVersion: null, modelLoadError: null }, 'the empty registry took the bundle the node started with');
  const [bootstrapped] = listed.body.models as ModelEntry[];
  t.match(bootstrapped, { version: first, dir: server.model.dir, state: 'live', previousLive: null, lineage: { dataHash: server.model.manifest.trainingDataHash } });

  const registered = await call('POST', '/v1/admin/models', { dir: second.dir });
  t.equal(registered.status, 201);
  t.strictSame(registered.body, {
    version: second.manifest.version,
    dir: second.dir,
    registeredAt: (registered.body as unknown as ModelEntry).registeredAt,
    lineage: {
      dataHash: second.manifest.trainingDataHash,
      parentVersion: null,
      source: 'demo',
      firstEventId: null,
      lastEventId: null,
      rows: demoInteractions().length,
      trainedAt: second.manifest.createdAt,
      parameters: second.manifest.parameters,
    },
    metrics: { 'validation.hr@20': 0.3125 },
    state: 'candidate',
    promotedAt: null,
    retiredAt: null,
    previousLive: null,
  });
  t.match(await call('POST', '/v1/admin/models', { dir: second.dir }), { status: 409, ...error('ATTUNE_ERR_MODEL_EXISTS', `model ${second.manifest.version} is registered already`) });
  t.match(await call('POST', '/v1/admin/models', { dir: third.dir, version: 'item-item-000000000000' }), {
    status: 400,
    ...error('ATTUNE_ERR_VALIDATION', `the bundle in ${third.dir} is version ${third.manifest.version}, not item-item-000000000000 (a model's version is the one its manifest names)`),
  });
  t.match(await call('POST', '/v1/admin/models', { dir: '/nonexistent/bundle' }), { status: 400, ...error('ATTUNE_ERR_INVALID_MODEL', 'bundle /nonexistent/bundle: manifest.json is missing') });
  t.equal((await call('POST', '/v1/admin/models', { dir: third.dir, version: 'bad version!' })).status, 400, 'a version is checked against its pattern');
  t.equal(server.model.manifest.version, first, 'registering serves nothing');
  t.match(await call('GET', `/v1/admin/models/${second.manifest.version}`), { status: 200, body: { version: second.manifest.version, state: 'candidate' } });
  t.match(await call('GET', '/v1/admin/models/item-item-000000000000'), { status: 404, ...error('ATTUNE_ERR_MODEL_NOT_FOUND', 'no model item-item-000000000000 in the registry') });

  // A socket sees the swap in its next push.
  const client = await connectClient(server.url, { sessionId: 'registry-http' });
  t.teardown(() => client.close());
  t.equal((await client.push()).modelVersion, first);

  const promoted = await call('POST', `/v1/admin/models/${second.manifest.version}/promote`);
  t.equal(promoted.status, 200);
  t.match(promoted.body, {
    live: { version: second.manifest.version, state: 'live', previousLive: first },
    previous: { version: first, state: 'retired' },
    nodeModelVersion: second.manifest.version,
    wantedModelVersion: null,
  });
  t.equal(server.model.manifest.version, second.manifest.version, 'this node serves it when the answer comes');
  const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId: 'shoes-001' });
  t.equal((await client.push((p) => p.cause?.eventId === ack.eventId)).modelVersion, second.manifest.version, 'the next push names the new version');
  t.match(await call('POST', `/v1/admin/models/${second.manifest.version}/promote`), { status: 409, ...error('ATTUNE_ERR_MODEL_STAGE', `model ${second.manifest.version} is live already`) });
  t.match(await call('POST', '/v1/admin/models/item-item-000000000000/promote', {}), { status: 404, ...error('ATTUNE_ERR_MODEL_NOT_FOUND', 'no model item-item-000000000000 in the registry') });
  t.match(await call('POST', `/v1/admin/models/${first}/retire`), { status: 409, ...error('ATTUNE_ERR_MODEL_STAGE', `model ${first} is retired already`) });
  t.match(await call('POST', `/v1/admin/models/${second.manifest.version}/retire`), { status: 409, ...error('ATTUNE_ERR_MODEL_STAGE', /is live: promote another version or roll back instead/) });

  const rolledBack = await call('POST', '/v1/admin/models/rollback');
  t.match(rolledBack, { status: 200, body: { live: { version: first, state: 'live' }, previous: { version: second.manifest.version, state: 'retired' }, nodeModelVersion: first } });
  t.equal(server.model.manifest.version, first, 'rolled back here too');
  t.match(await call('POST', '/v1/admin/models/rollback'), { status: 409, ...error('ATTUNE_ERR_MODEL_STAGE', `model ${first} was the first live version: there is no earlier one to roll back to`) });

  t.equal((await call('POST', '/v1/admin/models', { dir: third.dir, version: third.manifest.version })).status, 201);
  t.match(await call('POST', `/v1/admin/models/${third.manifest.version}/retire`), { status: 200, body: { version: third.manifest.version, state: 'retired', promotedAt: null } });
  t.strictSame(((await call('GET', '/v1/admin/models')).body.models as ModelEntry[]).map((m) => [m.version, m.state]), [
    [first, 'live'],
    [second.manifest.version, 'retired'],
    [third.manifest.version, 'retired'],
  ]);
  t.strictSame(await auditActions(server), [
    `model.register ${second.dir} ok`,
    `model.register ${second.dir} failed`,
    `model.register item-item-000000000000 failed`,
    'model.register /nonexistent/bundle failed',
    `model.promote ${second.manifest.version} ok`,
    `model.promote ${second.manifest.version} failed`,
    'model.promote item-item-000000000000 failed',
    `model.retire ${first} failed`,
    `model.retire ${second.manifest.version} failed`,
    `model.rollback ${first} ok`,
    'model.rollback live failed',
    `model.register ${third.manifest.version} ok`,
    `model.retire ${third.manifest.version} ok`,
  ]);
  t.match((await server.stores.audit.read({ limit: 100 })).find((e) => e.action === 'model.rollback' && e.outcome === 'ok'), { detail: { previousVersion: second.manifest.version } });
});

t.test('a promote is refused when the bundle does not load here or knows no catalog item (unless forced); the registry is left as it was', async (t) => {
  const broken = await unloadableBundle(t);
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const call = admin(server);
  const first = server.model.manifest.version;
  t.equal((await call('POST', '/v1/admin/models', { dir: broken.dir })).status, 201, 'its files read and validate');
  const refused = await call('POST', `/v1/admin/models/${broken.manifest.version}/promote`, {});
  t.match(refused, { status: 400, body: { error: { code: 'ATTUNE_ERR_INVALID_MODEL' } } });
  t.match(await server.stores.models.live(), { version: first }, 'still live');
  t.equal(server.model.manifest.version, first, 'still served');
  t.equal(await loadFailures(server), 0, 'a refused promote is no failure to follow the registry');

  const dir = t.testdir();
  const foreign = await writeBundle(dir, trainItemItem(demoInteractions(200).map((i) => ({ ...i, itemId: `elsewhere-${i.itemId}` })), { neighbours: 8, window: 2 }));
  t.equal((await call('POST', '/v1/admin/models', { dir })).status, 201);
  t.match(await call('POST', `/v1/admin/models/${foreign.version}/promote`), {
    status: 409,
    ...error('ATTUNE_ERR_MODEL_MISMATCH', `none of the bundle's ${foreign.itemCount} items is in the catalog (320 items): send "force": true to swap anyway`),
  });
  t.equal(server.model.manifest.version, first, 'still served');
  t.match(await call('POST', `/v1/admin/models/${foreign.version}/promote`, { force: true }), { status: 200, body: { live: { version: foreign.version }, nodeModelVersion: foreign.version } }, 'forced');
});

t.test('a live version whose bundle does not load: the node keeps serving the old one and says so, until the registry moves on', async (t) => {
  const broken = await unloadableBundle(t);
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const first = server.model.manifest.version;
  // As `attune models promote` would (it cannot load the bundle first): straight in the registry, announced.
  await server.stores.models.register({ version: broken.manifest.version, dir: broken.dir, registeredAt: 1, lineage: { dataHash: 'h', parentVersion: null, source: null, firstEventId: null, lastEventId: null, rows: 0, trainedAt: 'x', parameters: {} }, metrics: {} });
  await server.stores.models.promote(broken.manifest.version, 2);
  await server.stores.bus.publish({ type: 'models-changed', live: broken.manifest.version });

  await waitFor('the node to report the failed load', async () => (await loadFailures(server)) === 1);
  const ready = await fetch(`${server.url}/readyz`);
  t.equal(ready.status, 200, 'still ready: it serves the model it has');
  t.match(await ready.json(), { status: 'ready', modelVersion: first, wantedModelVersion: broken.manifest.version, modelLoadError: /./ });
  t.equal(server.model.manifest.version, first);
  t.equal((await server.metrics.modelBehindRegistry.get()).values[0]?.value, 1);
  t.equal((await fetch(`${server.url}/v1/recommendations?sessionId=still-served`, { headers: authHeaders })).status, 200);

  const back = await admin(server)('POST', '/v1/admin/models/rollback');
  t.match(back, { status: 200, body: { live: { version: first }, nodeModelVersion: first, wantedModelVersion: null, modelLoadError: null } });
  t.strictSame(await (await fetch(`${server.url}/readyz`)).json(), { status: 'ready', modelVersion: first }, 'nothing more to say');
  t.equal(await loadFailures(server), 1);
  t.equal((await server.metrics.modelBehindRegistry.get()).values[0]?.value, 0, 'in step again, with no swap needed');
});
