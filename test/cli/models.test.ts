import { userInfo } from 'node:os';
import t from 'tap';
import { runModels } from '../../src/cli/models.js';
import { createRedisStores } from '../../src/store/redis/index.js';
import type { BusMessage, LiveChange, ModelEntry } from '../../src/store/types.js';
import { capture, waitFor } from '../helpers.js';
import { demoBundle } from '../support/model-bundles.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { demoInteractions } from '../../src/demo/catalog.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';

t.test('attune models --redis: register, list, promote, rollback, retire; each change audited as cli:<user> and announced', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const stores = await createRedisStores({ url: redis.url, shardCount: 8 });
  t.teardown(() => stores.close());
  const announced: BusMessage[] = [];
  await stores.bus.subscribe((message) => announced.push(message));
  const target = ['--redis', redis.url];
  const a = await demoBundle(t, 2);
  const b = await demoBundle(t, 3);
  const [va, vb] = [a.manifest.version, b.manifest.version];

  t.match(await capture(() => runModels(['list', ...target])), { code: 0, stdout: 'no models registered\n', stderr: '' });
  const registered = await capture(() => runModels(['register', a.dir, ...target]));
  t.strictSame(registered, { code: 0, stdout: `registered ${va} (candidate) from ${a.dir}\n`, stderr: '' });
  const json = await capture(() => runModels(['register', b.dir, '--version', vb, '--json', ...target]));
  t.equal(json.code, 0, json.stderr);
  t.match(JSON.parse(json.stdout) as ModelEntry, { version: vb, dir: b.dir, state: 'candidate', lineage: { source: 'demo', rows: demoInteractions().length, dataHash: b.manifest.trainingDataHash }, metrics: { 'validation.hr@20': 0.25 } });
  t.strictSame(await capture(() => runModels(['register', a.dir, ...target])), { code: 1, stdout: '', stderr: `attune models: model ${va} is registered already\n` });

  t.strictSame(await capture(() => runModels(['promote', va, ...target])), { code: 0, stdout: `${va} is live; every node follows within seconds\n`, stderr: '' });
  const promoted = await capture(() => runModels(['promote', vb, '--json', ...target]));
  t.match(JSON.parse(promoted.stdout) as LiveChange, { live: { version: vb, state: 'live', previousLive: va }, previous: { version: va, state: 'retired' } });
  t.match(await stores.models.live(), { version: vb }, 'the registry every node reads');
  t.strictSame(await capture(() => runModels(['promote', vb, ...target])), { code: 1, stdout: '', stderr: `attune models: model ${vb} is live already\n` });
  t.strictSame(await capture(() => runModels(['promote', 'item-item-000000000000', ...target])), { code: 1, stdout: '', stderr: 'attune models: no model item-item-000000000000 in the registry\n' });

  const listed = await capture(() => runModels(['list', ...target]));
  const lines = listed.stdout.trimEnd().split('\n');
  t.match(lines[0], /^VERSION\s+STATE\s+REGISTERED\s+PROMOTED\s+PARENT\s+ROWS\s+DIR$/);
  t.match(lines[1], new RegExp(`^${va}\\s+retired\\s+\\S+Z\\s+\\S+Z\\s+-\\s+${demoInteractions().length}\\s+${a.dir}$`));
  t.match(lines[2], new RegExp(`^${vb}\\s+live\\s+`));
  t.equal(lines.length, 3);

  t.strictSame(await capture(() => runModels(['rollback', ...target])), { code: 0, stdout: `${va} is live (was ${vb}, now retired); every node follows within seconds\n`, stderr: '' });
  t.strictSame(await capture(() => runModels(['rollback', ...target])), { code: 1, stdout: '', stderr: `attune models: model ${va} was the first live version: there is no earlier one to roll back to\n` });
  t.strictSame(await capture(() => runModels(['retire', va, ...target])), { code: 1, stdout: '', stderr: `attune models: model ${va} is live: promote another version or roll back instead\n` });

  // A bundle for another shop: refused while the catalog holds items it does not know, unless forced.
  await stores.catalog.upsert([{ itemId: 'shoes-001', title: 'Shoe', category: 'shoes', price: 1, inStock: true }]);
  const dir = t.testdir();
  const foreign = await writeBundle(dir, trainItemItem(demoInteractions(200).map((i) => ({ ...i, itemId: `elsewhere-${i.itemId}` })), { neighbours: 8, window: 2 }));
  t.equal((await capture(() => runModels(['register', dir, ...target]))).code, 0);
  t.strictSame(await capture(() => runModels(['promote', foreign.version, ...target])), { code: 1, stdout: '', stderr: `attune models: none of the bundle's ${foreign.itemCount} items is in the catalog (1 items): --force to promote it anyway\n` });
  t.equal((await capture(() => runModels(['retire', foreign.version, '--json', ...target]))).code, 0);
  t.match(await stores.models.get(foreign.version), { state: 'retired' });

  await waitFor('the last change announced', () => announced.length === 7);
  t.strictSame(
    announced.map((m) => (m.type === 'models-changed' ? m.live : m.type)),
    [null, null, va, vb, va, va, va],
    'each change (two registers, two promotes, a rollback, a register, a retire) told every node the live version; refusals told nothing',
  );
  const actor = `cli:${userInfo().username}`;
  const audit = (await stores.audit.read({ limit: 100 })).reverse();
  t.ok(audit.every((e) => e.actor === actor), `every entry by ${actor}`);
  t.strictSame(
    audit.map((e) => `${e.action} ${e.target} ${e.outcome}`),
    [
      `model.register ${va} ok`,
      `model.register ${vb} ok`,
      `model.register ${a.dir} failed`,
      `model.promote ${va} ok`,
      `model.promote ${vb} ok`,
      `model.promote ${vb} failed`,
      'model.promote item-item-000000000000 failed',
      `model.rollback ${va} ok`,
      'model.rollback live failed',
      `model.retire ${va} failed`,
      `model.register ${foreign.version} ok`,
      `model.promote ${foreign.version} failed`,
      `model.retire ${foreign.version} ok`,
    ],
  );
});

t.test('attune models: usage mistakes exit 2 and change nothing', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown subcommand "frobnicate": use list, register, promote, rollback, retire/],
    [['promote', '--redis', 'redis://127.0.0.1:1'], /promote needs the VERSION/],
    [['register', 'a', 'b', '--redis', 'redis://127.0.0.1:1'], /register takes one argument, the bundle directory DIR, got 2 arguments/],
    [['list', '--version', 'x', '--redis', 'redis://127.0.0.1:1'], /--version is for register, not list/],
    [['rollback', '--force', '--redis', 'redis://127.0.0.1:1'], /--force is for promote, not rollback/],
    [['list'], /give the cluster's Redis: --redis URL/],
  ];
  for (const [argv, message] of cases) {
    const result = await capture(() => runModels(argv));
    t.equal(result.code, 2, argv.join(' '));
    t.match(result.stderr, message);
  }
  t.match(await capture(() => runModels(['--help'])), { code: 0, stdout: /^usage: attune models list/ });
});
