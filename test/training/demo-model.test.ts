import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readBundle } from '../../src/model/bundle.js';
import { ensureDemoModel } from '../../src/training/demo-model.js';

t.test('nodes starting together on one data directory all get the same, complete demo bundle', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'attune-demo-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const logged: string[] = [];
  const dirs = await Promise.all(Array.from({ length: 6 }, () => ensureDemoModel(dataDir, (m) => logged.push(m))));
  t.equal(new Set(dirs).size, 1, 'one directory for all');
  t.match(dirs[0], /models\/demo-item-item-[0-9a-f]{12}$/, 'named by the model version');
  t.strictSame(await readdir(join(dataDir, 'models')), [dirs[0].split('/').at(-1)], 'no staging directory left behind');
  const bundle = await readBundle(dirs[0]);
  t.equal(`demo-${bundle.manifest.version}`, dirs[0].split('/').at(-1));
  t.equal(logged.length, 1, 'one of them trained it into place');
  t.equal(await ensureDemoModel(dataDir, (m) => logged.push(m)), dirs[0], 'a later start reuses it');
  t.equal(logged.length, 1);
});
