import t, { type Test } from 'tap';
import ort from 'onnxruntime-node';
import { defaultReducerConfig } from '../../src/session/state.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { blendEmbedding, buildExamples, trainEmbeddings, type Fusion } from '../../src/training/embeddings.js';
import { trainingPart } from '../../src/training/eval-cases.js';
import { TUNING_START, fitTuned, reducerFor } from '../../src/training/tuning.js';
import { scoreAll, scoreReference, type ItemItemModel, type ScoringTables } from '../../src/model/item-item.js';
import { buildItemItemOnnx } from '../../src/training/onnx-graph.js';
import { Scorer } from '../../src/model/scorer.js';
import { seededRandom } from '../../src/lib/random.js';
import { syntheticInteractions } from '../../src/training/synthetic.js';
import { prepareInteractions, resolveParams, userHistories } from '../../src/training/trainer.js';
import type { ModelInput, ScoredItem } from '../../src/model/types.js';

const data = syntheticInteractions({ interactions: 5000, items: 140, users: 250, clusters: 7, seed: 17 });
const histories = userHistories(data);
const catalog = [...new Set(data.map((x) => x.itemId)), 'never-seen'].sort();
const prepared = prepareInteractions(trainingPart(histories, 2), catalog);
const HISTORY_LENGTH = 10;

function settingsWith(exponent: number) {
  return {
    ...TUNING_START,
    params: resolveParams({ ...TUNING_START.params, neighbours: 12 }),
    longTerm: { ...TUNING_START.longTerm, params: resolveParams({ ...TUNING_START.longTerm.params, neighbours: 9 }), blend: 0.7, exponent },
    positionDecay: 0.6,
    historyLength: HISTORY_LENGTH,
  };
}

function withEmbedding(model: ItemItemModel, exponent: number, fusion: Fusion): ItemItemModel {
  const reducer = reducerFor(defaultReducerConfig, settingsWith(exponent));
  const examples = buildExamples(prepared, { historyLength: HISTORY_LENGTH, config: reducer, items: prepared.items, indexOf: prepared.indexOf, eventTypes: prepared.eventTypes });
  const embedding = trainEmbeddings(examples, prepared.items.length, { dim: 8, epochs: 2, negatives: 16, batch: 32, seed: 3 });
  return blendEmbedding(model, embedding, fusion);
}

function randomInputs(model: ItemItemModel, count: number, seed: number): ModelInput[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, n) => {
    const length = n === 0 ? 0 : 1 + Math.floor(random() * 14);
    const itemIds = Array.from({ length }, () => (random() < 0.1 ? `unknown-${n}` : model.items[Math.floor(random() * model.itemCount)]));
    return { itemIds, weights: itemIds.map(() => 0.05 + random() * 3) };
  });
}

/**
 * Same ranking up to float32 rounding: every served score is within 1e-5 of the reference's
 * score at that rank, and of the reference's own score for the served item (near-ties may swap).
 */
function assertSameRanking(t: Test, model: ItemItemModel, input: ModelInput, actual: ScoredItem[], expected: ScoredItem[], what: string): void {
  t.equal(actual.length, expected.length, `${what}: length`);
  const indexOf = new Map(model.items.map((id, i) => [id, i] as const));
  const reference = scoreReference(model, input, model.itemCount, HISTORY_LENGTH);
  const scoreOf = new Map(reference.map((s) => [s.itemId, s.score] as const));
  let maxDiff = 0;
  actual.forEach((s, r) => {
    maxDiff = Math.max(maxDiff, Math.abs(s.score - expected[r].score), Math.abs(s.score - (scoreOf.get(s.itemId) ?? Infinity)));
    if (!indexOf.has(s.itemId)) t.fail(`${what}: unknown item ${s.itemId}`);
  });
  t.ok(maxDiff <= 1e-5, `${what}: max score difference ${maxDiff} <= 1e-5`);
  const same = actual.filter((s, r) => s.itemId === expected[r].itemId).length;
  t.ok(same >= actual.length - 2, `${what}: ${same}/${actual.length} ids in the same place`);
}

const fusions: [number, Fusion][] = [
  [0, { kind: 'linear', weight: 0.4 }],
  [1, { kind: 'log', epsilon: 0.01, scale: 2 }],
  [0.3, { kind: 'log', epsilon: 0.05, scale: 0.7 }],
];
for (const [exponent, fusion] of fusions) {
  t.test(`bundle round trip, long-term exponent ${exponent} + embeddings (${fusion.kind}): Scorer equals the reference`, async (t) => {
    const model = withEmbedding(fitTuned(prepared, settingsWith(exponent)), exponent, fusion);
    t.ok(model.longTerm && model.embedding, 'both parts present');
    const dir = t.testdir();
    const manifest = await writeBundle(dir, model, { historyLength: HISTORY_LENGTH, reducer: { positionDecay: 0.6 } });
    t.match(manifest.version, /^item-item-emb-[0-9a-f]{12}$/);
    t.equal(manifest.algorithm, 'item-item-emb');
    t.equal(manifest.parameters['longTerm.exponent'], exponent);
    t.equal(manifest.parameters['embedding.dim'], 8);
    if (fusion.kind === 'linear') t.equal(manifest.parameters['embedding.blend'], 0.4);
    else t.match(manifest.parameters, { 'embedding.logFusion': 1, 'embedding.logScale': fusion.scale, 'embedding.logEpsilon': fusion.epsilon });
    t.strictSame(manifest.reducer, { positionDecay: 0.6 });
    const scorer = await Scorer.load(dir);
    t.teardown(() => scorer.close());
    for (const [n, input] of randomInputs(model, 25, 40 + exponent * 10).entries()) {
      const k = [1, 7, 30][n % 3];
      assertSameRanking(t, model, input, await scorer.score(input, k), scoreReference(model, input, k, HISTORY_LENGTH), `input ${n} k=${k}`);
    }
    // A batch of rows answers like single rows (onnxruntime's batched MatMul may round differently).
    const batch = randomInputs(model, 9, 77);
    const together = await Promise.all(batch.map((input) => scorer.score(input, 5)));
    for (const [n, input] of batch.entries()) {
      assertSameRanking(t, model, input, together[n], await scorer.score(input, 5), `batched row ${n}`);
    }
  });
}

/** Rows of L slots with padding tails, as the Scorer sends them. */
function rows(tables: ScoringTables, count: number, slots: number, seed: number) {
  const random = seededRandom(seed);
  const items = new Int32Array(count * slots).fill(tables.itemCount);
  const weights = new Float32Array(count * slots);
  for (let r = 0; r < count; r++) {
    const used = r === 1 ? 0 : 1 + Math.floor(random() * slots);
    for (let s = 0; s < used; s++) {
      items[r * slots + s] = Math.floor(random() * tables.itemCount);
      weights[r * slots + s] = random() < 0.3 ? 1 : random() * 2;
    }
  }
  return { items, weights };
}

t.test('graph with a long-term part: exponents 0 and 1 agree with the twin bit for bit', async (t) => {
  const base = fitTuned(prepared, settingsWith(0));
  for (const exponent of [0, 1, 0.45]) {
    const model = fitTuned(prepared, settingsWith(exponent));
    t.equal(model.longTerm?.exponent, exponent);
    const session = await ort.InferenceSession.create(buildItemItemOnnx(model), { intraOpNumThreads: 1 });
    t.teardown(() => session.release());
    const slots = 8;
    const { items, weights } = rows(base, 6, slots, 5);
    const out = await session.run({
      items: new ort.Tensor('int64', BigInt64Array.from(items, (i) => BigInt(i)), [6, slots]),
      weights: new ort.Tensor('float32', weights, [6, slots]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(model.itemCount)), [1]),
    });
    const scores = out.top_scores.data as Float32Array;
    const indices = out.top_indices.data as BigInt64Array;
    let maxDiff = 0;
    for (let r = 0; r < 6; r++) {
      const reference = scoreAll(model, items.subarray(r * slots, (r + 1) * slots), weights.subarray(r * slots, (r + 1) * slots));
      for (let c = 0; c < model.itemCount; c++) {
        const at = r * model.itemCount + c;
        maxDiff = Math.max(maxDiff, Math.abs(scores[at] - reference[Number(indices[at])]));
      }
    }
    if (exponent === 0 || exponent === 1) t.equal(maxDiff, 0, `exponent ${exponent}: bit for bit`);
    else t.ok(maxDiff <= 1e-5, `exponent ${exponent}: within float32 rounding of Pow (${maxDiff})`);
  }
});
