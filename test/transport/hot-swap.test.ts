import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { sessionKey } from '../../src/session/events.js';
import { demoCatalog, demoInteractions } from '../../src/demo/catalog.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';
import { authHeaders, connectClient, startLocalServer, type TestClient, testSecurity } from '../helpers.js';

const SOCKETS = 20;
const ITEMS = demoCatalog().map((i) => i.itemId);

t.test('a model swap under live socket traffic drops no socket and no event', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'attune-swap-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const next = await writeBundle(dir, trainItemItem(demoInteractions(), { neighbours: 8, window: 2 }));
  // Each socket sends as fast as acks come back: no per-session rate limit applies to this test.
  const security = { ...testSecurity, rateSessionPerS: 1_000_000, rateSessionBurst: 1_000_000 };
  const server = await startLocalServer({ security });
  t.teardown(() => server.close());
  const oldVersion = server.model.manifest.version;
  t.not(next.version, oldVersion, 'the second bundle is a different model');

  const clients: TestClient[] = [];
  for (let i = 0; i < SOCKETS; i++) clients.push(await connectClient(server.url, { sessionId: `swap-${i}` }));
  t.teardown(() => clients.forEach((c) => c.close()));
  let disconnects = 0;
  for (const c of clients) c.socket.on('disconnect', () => disconnects++);

  let swappedAt = Infinity;
  const sentAfterSwap = new Set<string>();
  const acked = new Array<number>(SOCKETS).fill(0);
  const failures: unknown[] = [];
  // Traffic runs until a second after the swap answered, however long the swap takes on a busy machine.
  let stopAt = Infinity;
  const traffic = clients.map(async (c, i) => {
    for (let n = 0; Date.now() < stopAt; n++) {
      const sentAt = Date.now();
      const ack = await c.emit<{ ok: boolean; eventId?: string }>('event', { eventType: 'view', itemId: ITEMS[(i * 37 + n * 11) % ITEMS.length] });
      if (!ack.ok || ack.eventId === undefined) failures.push(ack);
      else {
        acked[i]++;
        if (sentAt > swappedAt) sentAfterSwap.add(ack.eventId);
      }
    }
  });

  await new Promise((r) => setTimeout(r, 500));
  const res = await fetch(`${server.url}/v1/admin/model`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ dir }) });
  swappedAt = Date.now();
  stopAt = swappedAt + 1000;
  t.strictSame(await res.json(), { modelVersion: next.version, previousVersion: oldVersion });
  await Promise.all(traffic);
  await new Promise((r) => setTimeout(r, 200));

  t.strictSame(failures, [], 'every event was acknowledged');
  t.equal(disconnects, 0, 'no socket dropped');
  for (let i = 0; i < SOCKETS; i++) {
    t.equal((await server.stores.log.read(sessionKey(`swap-${i}`), null)).length, acked[i], `session ${i}: every acked event is in the log`);
    t.equal((await server.host.currentState(sessionKey(`swap-${i}`))).eventCount, acked[i], `session ${i}: and applied once`);
  }
  const pushes = clients.flatMap((c) => c.pushes);
  const afterSwap = pushes.filter((p) => p.cause !== null && sentAfterSwap.has(p.cause.eventId));
  t.ok(afterSwap.length > 0, `${afterSwap.length} pushes for events sent after the swap`);
  t.strictSame([...new Set(afterSwap.map((p) => p.modelVersion))], [next.version], 'each names the new model');
  t.ok(pushes.some((p) => p.modelVersion === oldVersion), 'pushes before the swap named the old one');
  t.equal((await (await fetch(`${server.url}/healthz`)).json() as { modelVersion: string }).modelVersion, next.version);
  t.match(await server.stores.models.live(), { version: next.version, dir, previousLive: oldVersion }, 'the swap went through the registry: every node follows it');
  t.match(await server.stores.models.get(oldVersion), { state: 'retired' });
});

t.test('a bundle that does not load is refused and the current model keeps serving', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const before = server.model.manifest.version;
  const res = await fetch(`${server.url}/v1/admin/model`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ dir: '/nonexistent/bundle' }) });
  t.equal(res.status, 400);
  const body = (await res.json()) as { error: { code: string; message: string } };
  t.equal(body.error.code, 'ATTUNE_ERR_INVALID_MODEL');
  t.match(body.error.message, 'manifest.json');
  t.equal(server.model.manifest.version, before);
  t.strictSame((await server.stores.models.list()).map((m) => [m.version, m.state]), [[before, 'live']], 'nothing registered');
  const recs = await fetch(`${server.url}/v1/recommendations?sessionId=still-ok`, { headers: authHeaders });
  t.equal(recs.status, 200);
});
