import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelInput, ScoredItem } from '../../src/model/types.js';
import { readBundle } from '../../src/model/bundle.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { Scorer, ScoringTimeoutError, type ScoringSession } from '../../src/model/scorer.js';
import { scoreReference, trainItemItem } from '../../src/training/trainer.js';
import { seededRandom } from '../../src/lib/random.js';
import { syntheticInteractions } from '../../src/training/synthetic.js';

const HISTORY_LENGTH = 8;
const interactions = syntheticInteractions({ interactions: 6000, items: 120, users: 300, clusters: 8, seed: 11 });
const model = trainItemItem(interactions, { neighbours: 10 });

async function bundleDir(t: Test): Promise<string> {
  const dir = t.testdir();
  await writeBundle(dir, model, { historyLength: HISTORY_LENGTH });
  return dir;
}

/** Histories of 0..12 slots: known ids, a few unknown ones, repeated ids, varied weights. */
function randomInputs(count: number, seed: number): ModelInput[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, n) => {
    const length = n === 0 ? 0 : Math.floor(random() * 13);
    const itemIds = Array.from({ length }, () =>
      random() < 0.1 ? `unknown-${n}` : model.items[Math.floor(random() * model.itemCount)],
    );
    return { itemIds, weights: itemIds.map(() => Math.round(random() * 40) / 10) };
  });
}

function assertClose(t: Test, actual: ScoredItem[], expected: ScoredItem[], what: string): void {
  t.strictSame(actual.map((s) => s.itemId), expected.map((s) => s.itemId), `${what}: ids`);
  const maxDiff = Math.max(0, ...actual.map((s, i) => Math.abs(s.score - expected[i].score)));
  t.ok(maxDiff <= 1e-5, `${what}: max score diff ${maxDiff} <= 1e-5`);
}

t.test('bundle round trip: Scorer equals scoreReference', async (t) => {
  const scorer = await Scorer.load(await bundleDir(t));
  t.teardown(() => scorer.close());
  t.equal(scorer.itemCount, model.itemCount);
  t.equal(scorer.historyLength, HISTORY_LENGTH);
  t.strictSame(scorer.itemIds, model.items);
  t.match(scorer.version, /^item-item-[0-9a-f]{12}$/);
  t.ok(scorer.hasItem(model.items[0]));
  t.notOk(scorer.hasItem('unknown'));

  const inputs = randomInputs(30, 5);
  t.ok(inputs.some((input) => input.itemIds.length > HISTORY_LENGTH), 'some inputs are longer than L');
  for (const [n, input] of inputs.entries()) {
    const k = [1, 5, 20][n % 3];
    const expected = scoreReference(model, input, k, HISTORY_LENGTH);
    const actual = await scorer.score(input, k);
    t.equal(actual.length, k);
    assertClose(t, actual, expected, `input ${n} (${input.itemIds.length} slots, k=${k})`);
  }
  t.strictSame(scorer.stats, { runs: 30, rows: 30, maxBatch: 1, failedInARow: 0 });
});

t.test('score clamps k to itemCount and answers k <= 0 without a run', async (t) => {
  const scorer = await Scorer.load(await bundleDir(t));
  t.teardown(() => scorer.close());
  const input = { itemIds: [model.items[3]], weights: [1] };
  const all = await scorer.score(input, 10_000);
  t.equal(all.length, model.itemCount);
  assertClose(t, all, scoreReference(model, input, model.itemCount), 'k clamped');
  t.strictSame(await scorer.score(input, 0), []);
  t.strictSame(await scorer.score(input, -3), []);
  t.equal(scorer.stats.runs, 1);
  await t.rejects(scorer.score(input, Number.NaN), RangeError);
  await t.rejects(scorer.score({ itemIds: ['a'], weights: [] }, 3), /1 itemIds but 0 weights/);
});

t.test('micro-batching: ten calls in one tick share one run', async (t) => {
  const scorer = await Scorer.load(await bundleDir(t));
  t.teardown(() => scorer.close());
  const inputs = randomInputs(10, 8);
  const ks = inputs.map((_, n) => 1 + ((n * 7) % 15));
  const batched = await Promise.all(inputs.map((input, n) => scorer.score(input, ks[n])));
  t.strictSame(scorer.stats, { runs: 1, rows: 10, maxBatch: 10, failedInARow: 0 });

  for (const [n, input] of inputs.entries()) {
    const single = await scorer.score(input, ks[n]);
    t.strictSame(batched[n], single, `request ${n}: batched answer equals the single-call answer`);
    assertClose(t, single, scoreReference(model, input, ks[n], HISTORY_LENGTH), `request ${n} vs reference`);
  }
  t.strictSame(scorer.stats, { runs: 11, rows: 20, maxBatch: 10, failedInARow: 0 });
});

t.test('micro-batching: a full queue flushes at maxBatch', async (t) => {
  const scorer = await Scorer.load(await bundleDir(t), { maxBatch: 4 });
  t.teardown(() => scorer.close());
  const inputs = randomInputs(10, 9);
  const results = await Promise.all(inputs.map((input) => scorer.score(input, 5)));
  t.strictSame(scorer.stats, { runs: 3, rows: 10, maxBatch: 4, failedInARow: 0 });
  results.forEach((result, n) => assertClose(t, result, scoreReference(model, inputs[n], 5, HISTORY_LENGTH), `request ${n}`));
});

t.test('cold start: empty or all-unknown input gives the popularity order', async (t) => {
  const scorer = await Scorer.load(await bundleDir(t));
  t.teardown(() => scorer.close());
  const popularIds = scorer.popular(15).map((s) => s.itemId);
  const bundle = await readBundle(await bundleDir(t));
  t.strictSame(popularIds, bundle.popularity.slice(0, 15).map((p) => p.itemId));
  const topCount = Math.max(...bundle.popularity.map((p) => p.count));
  t.strictSame(scorer.popular(3).map((s) => s.score), bundle.popularity.slice(0, 3).map((p) => p.count / topCount), "scores are shares of the top item's count");
  t.equal(scorer.popular(1)[0].score, 1);
  t.ok(scorer.popular(scorer.itemCount).every((s) => s.score >= 0 && s.score <= 1), 'all on 0..1');

  const cold = await scorer.score({ itemIds: [], weights: [] }, 15);
  t.strictSame(cold.map((s) => s.itemId), popularIds);
  t.strictSame(cold.map((s) => s.score), popularIds.map((id) => model.prior[model.items.indexOf(id)]));
  const unknown = await scorer.score({ itemIds: ['nope', 'nada'], weights: [1, 2] }, 15);
  t.strictSame(unknown.map((s) => s.itemId), popularIds);
});

t.test('scoreOrFallback: model answers when it can', async (t) => {
  const scorer = await Scorer.load(await bundleDir(t));
  t.teardown(() => scorer.close());
  const input = { itemIds: [model.items[5], model.items[9]], weights: [1, 0.5] };
  t.strictSame(await scorer.scoreOrFallback(input, 6), { items: await scorer.score(input, 6), fallback: null });
});

t.test('scoreOrFallback: a failing run falls back to popular with reason error', async (t) => {
  const bundle = await readBundle(await bundleDir(t));
  let released = 0;
  const failing: ScoringSession = {
    run: async () => {
      throw new Error('kernel exploded');
    },
    release: async () => {
      released++;
    },
  };
  const scorer = new Scorer(bundle, failing);
  const outcome = await scorer.scoreOrFallback({ itemIds: [model.items[1]], weights: [1] }, 7);
  t.strictSame(outcome.items, scorer.popular(7));
  t.equal(outcome.fallback, 'error');
  t.match(outcome.error, { message: 'kernel exploded' });
  await t.rejects(scorer.score({ itemIds: [], weights: [] }, 3), /kernel exploded/);
  t.equal(scorer.stats.failedInARow, 2, 'failed runs in a row are counted (readiness looks at them)');

  const corrupted = await scorer.scoreOrFallback({ itemIds: ['a', 'b'], weights: [1] }, 4);
  t.strictSame(corrupted.items, scorer.popular(4));
  t.equal(corrupted.fallback, 'error');
  await scorer.close();
  t.equal(released, 1);
  t.equal((await scorer.scoreOrFallback({ itemIds: [], weights: [] }, 2)).fallback, 'error', 'closed scorer');
});

t.test('scoreOrFallback: a run slower than timeoutMs falls back with reason timeout', async (t) => {
  const bundle = await readBundle(await bundleDir(t));
  const stuck: ScoringSession = { run: () => new Promise(() => {}), release: async () => {} };
  const scorer = new Scorer(bundle, stuck, { timeoutMs: 20 });
  const started = performance.now();
  const outcomes = await Promise.all([
    scorer.scoreOrFallback({ itemIds: [model.items[1]], weights: [1] }, 3),
    scorer.scoreOrFallback({ itemIds: [], weights: [] }, 5),
  ]);
  const waited = performance.now() - started;
  t.ok(waited >= 19 && waited < 1000, `answered after the timeout (${waited.toFixed(1)} ms)`);
  t.strictSame(outcomes.map((o) => [o.fallback, o.items]), [
    ['timeout', scorer.popular(3)],
    ['timeout', scorer.popular(5)],
  ]);
  t.type(outcomes[0].error, ScoringTimeoutError);
  t.strictSame(scorer.stats, { runs: 1, rows: 2, maxBatch: 2, failedInARow: 1 }, 'a late run counts as failed');
  await scorer.close();
});

t.test('Scorer.load errors name the bundle file', async (t) => {
  const dir = t.testdir({ 'manifest.json': '{' });
  await t.rejects(Scorer.load(dir), /manifest\.json is not valid JSON/);
  await t.rejects(Scorer.load(await bundleDir(t), { maxBatch: 0 }), /maxBatch must be a positive integer/);
  const garbled = await bundleDir(t);
  await writeFile(join(garbled, 'model.onnx'), 'not a protobuf');
  await t.rejects(Scorer.load(garbled), { message: new RegExp(`^bundle ${garbled}: model\\.onnx cannot be loaded by onnxruntime`) });
});
