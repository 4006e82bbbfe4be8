import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_CONTRACT } from '../../src/model/types.js';
import { BUNDLE_FILES, readBundle } from '../../src/model/bundle.js';
import { lineageOf } from '../../src/model/lineage.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { hashInteractions, trainItemItem } from '../../src/training/trainer.js';
import { syntheticInteractions } from '../../src/training/synthetic.js';

const interactions = syntheticInteractions({ interactions: 3000, items: 80, users: 150, clusters: 6, seed: 3 });
const model = trainItemItem(interactions, { neighbours: 8 });
const createdAt = new Date('2025-01-02T03:04:05.000Z');

t.test('writeBundle writes the four files; readBundle reads them back', async (t) => {
  const dir = t.testdir();
  const manifest = await writeBundle(dir, model, { historyLength: 12, metrics: { 'recall@20': 0.25 }, createdAt });
  const onnxBytes = await readFile(join(dir, 'model.onnx'));
  const sha = createHash('sha256').update(onnxBytes).digest('hex');

  t.equal(manifest.version, `item-item-${sha.slice(0, 12)}`);
  t.match(manifest.version, /^item-item-[0-9a-f]{12}$/);
  t.strictSame(manifest, {
    format: 'attune-bundle/1',
    version: manifest.version,
    createdAt: '2025-01-02T03:04:05.000Z',
    algorithm: 'item-item',
    parameters: {
      window: 5,
      decay: 0.8,
      backwardWeight: 0.5,
      alpha: 0.5,
      beta: 0.5,
      neighbours: 8,
      popularityBlend: 0.01,
      recencyDecay: 1,
      userLengthExponent: 0,
      repeatWeight: 0,
      defaultEventWeight: 1,
      'eventWeight.add-to-cart': 2,
      'eventWeight.click': 1,
      'eventWeight.purchase': 3,
      'eventWeight.view': 1,
    },
    trainingDataHash: hashInteractions(interactions),
    trainingSeconds: model.stats.trainingSeconds,
    itemCount: model.itemCount,
    historyLength: 12,
    interactions: 3000,
    users: model.stats.users,
    metrics: { 'recall@20': 0.25 },
    contract: MODEL_CONTRACT,
  });
  t.strictSame(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), manifest);
  t.strictSame(JSON.parse(await readFile(join(dir, 'items.json'), 'utf8')), model.items);

  const popularity: { itemId: string; count: number }[] = JSON.parse(await readFile(join(dir, 'popularity.json'), 'utf8'));
  t.equal(popularity.length, model.itemCount);
  t.equal(popularity.reduce((sum, p) => sum + p.count, 0), 3000, 'counts add up to the interactions');
  for (let i = 1; i < popularity.length; i++) {
    const [a, b] = [popularity[i - 1], popularity[i]];
    if (a.count < b.count || (a.count === b.count && a.itemId >= b.itemId)) t.fail(`popularity out of order at ${i}`);
  }
  t.strictSame(popularity[0], { itemId: model.items[model.counts.indexOf(Math.max(...model.counts))], count: Math.max(...model.counts) });

  const bundle = await readBundle(dir);
  t.strictSame(bundle.manifest, manifest);
  t.strictSame(bundle.items, model.items);
  t.strictSame(bundle.popularity, popularity);
  t.equal(bundle.modelPath, join(dir, 'model.onnx'));
  t.strictSame(Buffer.from(bundle.onnxBytes), onnxBytes);
});

t.test('the same model gives the same version', async (t) => {
  const a = await writeBundle(t.testdir(), model, { createdAt });
  const b = await writeBundle(t.testdir(), trainItemItem([...interactions].reverse(), { neighbours: 8 }));
  t.equal(a.version, b.version);
  t.equal(a.historyLength, 20, 'default L');
});

t.test('readBundle names the file at fault', async (t) => {
  for (const file of Object.values(BUNDLE_FILES)) {
    const dir = t.testdir();
    await writeBundle(dir, model);
    await rm(join(dir, file));
    await t.rejects(readBundle(dir), { message: `bundle ${dir}: ${file} is missing` }, `missing ${file}`);
  }

  const corrupt = async (file: string, content: string, message: RegExp) => {
    const dir = t.testdir();
    await writeBundle(dir, model);
    await writeFile(join(dir, file), content);
    await t.rejects(readBundle(dir), message, `${file}: ${content.slice(0, 30)}`);
  };
  await corrupt('items.json', '["a",', /items\.json is not valid JSON/);
  await corrupt('items.json', '["a","b"]', /items\.json has 2 items but manifest\.json says itemCount 80/);
  await corrupt('items.json', JSON.stringify(Array(80).fill('x')), /items\.json has duplicate item ids/);
  await corrupt('popularity.json', '{}', /popularity\.json must be an array/);
  await corrupt('popularity.json', '[{"itemId":"zzz","count":1}]', /popularity\.json\[0\] names unknown item zzz/);
  await corrupt('popularity.json', '[{"itemId":"i1"}]', /popularity\.json\[0\] must be \{itemId: string, count: number\}/);
  await corrupt('manifest.json', '[]', /manifest\.json is not a JSON object/);
  await corrupt('model.onnx', '', /model\.onnx is empty/);

  const dir = t.testdir();
  const manifest = await writeBundle(dir, model);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, format: 'attune-bundle/2' }));
  await t.rejects(readBundle(dir), /manifest\.json has format "attune-bundle\/2"/);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, historyLength: 0 }));
  await t.rejects(readBundle(dir), /manifest\.json field historyLength must be a positive integer/);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, contract: { inputs: {}, outputs: {} } }));
  await t.rejects(readBundle(dir), /manifest\.json field contract does not match/);
});

t.test('lineage: written into the manifest, checked on read, and what the registry copies', async (t) => {
  const dir = t.testdir();
  const recorded = { source: 'events.csv', firstEventId: null, lastEventId: null, rows: 3000, parentVersion: 'item-item-0123456789ab' };
  const manifest = await writeBundle(dir, model, { createdAt, metrics: { 'recall@20': 0.25 }, lineage: recorded });
  t.strictSame((await readBundle(dir)).manifest.lineage, recorded);
  t.strictSame(lineageOf(manifest), {
    dataHash: hashInteractions(interactions),
    parentVersion: 'item-item-0123456789ab',
    source: 'events.csv',
    firstEventId: null,
    lastEventId: null,
    rows: 3000,
    trainedAt: '2025-01-02T03:04:05.000Z',
    parameters: manifest.parameters,
  });
  const { lineage: _, ...older } = manifest;
  t.strictSame(lineageOf(older), { dataHash: manifest.trainingDataHash, parentVersion: null, source: null, firstEventId: null, lastEventId: null, rows: 3000, trainedAt: manifest.createdAt, parameters: manifest.parameters }, 'a bundle without lineage');
  for (const [lineage, why] of [
    [[], 'must be an object'],
    [{ ...recorded, source: 3 }, 'source must be a string'],
    [{ ...recorded, parentVersion: 7 }, 'parentVersion must be a string or null'],
    [{ ...recorded, rows: -1 }, 'rows must be a non-negative integer'],
  ] as const) {
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, lineage }));
    await t.rejects(readBundle(dir), { message: `bundle ${dir}: manifest.json field lineage: ${why}` });
  }
});
