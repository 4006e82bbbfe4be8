import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { demoInteractions } from '../../src/demo/catalog.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';
import { authHeaders, capture, startLocalServer, testSecurity } from '../helpers.js';

/** A bundle trained on another shop's items: none of its ids is in the demo catalog. */
async function foreignBundle(t: Test): Promise<{ dir: string; version: string; itemCount: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'attune-foreign-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const interactions = demoInteractions(200).map((i) => ({ ...i, itemId: `elsewhere-${i.itemId}` }));
  const manifest = await writeBundle(dir, trainItemItem(interactions, { neighbours: 8, window: 2 }));
  return { dir, version: manifest.version, itemCount: manifest.itemCount };
}

const swap = async (url: string, body: unknown) => {
  const res = await fetch(`${url}/v1/admin/model`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

t.test('a swap to a bundle that knows no catalog item is refused unless forced', async (t) => {
  const foreign = await foreignBundle(t);
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const before = server.model.manifest.version;

  const refused = await swap(server.url, { dir: foreign.dir });
  t.strictSame(refused, {
    status: 409,
    body: { error: { code: 'ATTUNE_ERR_MODEL_MISMATCH', message: `none of the bundle's ${foreign.itemCount} items is in the catalog (320 items): send "force": true to swap anyway` } },
  });
  t.equal(server.model.manifest.version, before, 'the current model keeps serving');
  t.equal((await fetch(`${server.url}/v1/recommendations?sessionId=still-served`, { headers: authHeaders })).status, 200);

  const forced = await swap(server.url, { dir: foreign.dir, force: true });
  t.strictSame(forced, { status: 200, body: { modelVersion: foreign.version, previousVersion: before } }, 'forced: swapped');
  t.equal(server.model.manifest.version, foreign.version);
  t.equal((await swap(server.url, { dir: foreign.dir, force: 'yes' })).status, 400, 'force is a boolean');
});

t.test('a node whose model knows no catalog item says so at start', async (t) => {
  const foreign = await foreignBundle(t);
  let server: Awaited<ReturnType<typeof startLocalServer>> | undefined;
  const started = await capture(async () => {
    server = await startLocalServer({ modelDir: foreign.dir, logLevel: 'warn', security: testSecurity });
    return 0;
  });
  t.teardown(() => server?.close());
  const warnings = started.stderr.split('\n').filter((line) => line.includes('warning'));
  t.strictSame(warnings, [`attune: warning: the model ${foreign.version} knows none of the catalog's 320 items: its lists will name items the catalog lacks (load the model's catalog, or serve a model trained on this one)`]);

  const quiet = await capture(async () => {
    const fitting = await startLocalServer({ logLevel: 'warn', security: testSecurity });
    await fitting.close();
    return 0;
  });
  t.notMatch(quiet.stderr, /warning/, 'a model that knows the catalog: no warning');
});
