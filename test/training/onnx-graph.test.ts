import t from 'tap';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { buildItemItemOnnx, ITEM_ITEM_OPSET } from '../../src/training/onnx-graph.js';
import { scoreIndices, type ScoringTables } from '../../src/model/item-item.js';
import { seededRandom } from '../../src/lib/random.js';

/**
 * Random tables with many exact ties (quantised prior and weights) so that the top-k order of
 * equal scores is exercised, not just the values.
 */
function randomTables(itemCount: number, neighbours: number, seed: number): ScoringTables {
  const random = seededRandom(seed);
  const nbrIdx = new Int32Array((itemCount + 1) * neighbours);
  const nbrW = new Float32Array((itemCount + 1) * neighbours);
  for (let i = 0; i < itemCount * neighbours; i++) {
    nbrIdx[i] = Math.floor(random() * itemCount);
    // Some weights quantised (ties), some arbitrary, some zero (short neighbour lists).
    const roll = random();
    nbrW[i] = roll < 0.2 ? 0 : roll < 0.6 ? Math.round(random() * 4) / 4 : random() * 3;
  }
  const prior = Float32Array.from({ length: itemCount }, () => Math.floor(random() * 4) * 0.0025);
  return { itemCount, neighbours, nbrIdx, nbrW, prior };
}

/** B rows of L slots; the tail of each row (and some whole rows) is padding: index N, weight 0. */
function randomRows(tables: ScoringTables, rows: number, slots: number, seed: number) {
  const random = seededRandom(seed);
  const items = new Int32Array(rows * slots).fill(tables.itemCount);
  const weights = new Float32Array(rows * slots);
  for (let r = 0; r < rows; r++) {
    const used = r === 1 ? 0 : 1 + Math.floor(random() * slots);
    for (let s = 0; s < used; s++) {
      items[r * slots + s] = Math.floor(random() * tables.itemCount);
      weights[r * slots + s] = random() < 0.3 ? 1 : random() * 2;
    }
  }
  return { items, weights };
}

async function runOnnx(session: ort.InferenceSession, items: Int32Array, weights: Float32Array, rows: number, k: number) {
  const slots = items.length / rows;
  const out = await session.run({
    items: new ort.Tensor('int64', BigInt64Array.from(items, (i) => BigInt(i)), [rows, slots]),
    weights: new ort.Tensor('float32', weights, [rows, slots]),
    k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
  });
  const scores = out.top_scores;
  const indices = out.top_indices;
  if (!(scores.data instanceof Float32Array) || !(indices.data instanceof BigInt64Array)) throw new Error('bad outputs');
  return { dims: [...scores.dims], idxDims: [...indices.dims], scores: scores.data, indices: indices.data };
}

t.test('model proto: opset, IR version, initializers, contract names', async (t) => {
  const tables = randomTables(7, 3, 1);
  const bytes = buildItemItemOnnx({ ...tables, producerName: 'attune-test', producerVersion: '9.9' });
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  t.equal(Number(model.irVersion), 8);
  t.strictSame(model.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', ITEM_ITEM_OPSET]]);
  t.equal(model.producerName, 'attune-test');
  const graph = model.graph;
  if (!graph) throw new Error('no graph');
  t.strictSame((graph.input ?? []).map((i) => i.name), ['items', 'weights', 'k']);
  t.strictSame((graph.output ?? []).map((o) => o.name), ['top_scores', 'top_indices']);
  const init = new Map((graph.initializer ?? []).map((x) => [x.name, x]));
  t.strictSame(init.get('nbr_idx')?.dims?.map(Number), [8, 3]);
  t.strictSame(init.get('nbr_w')?.dims?.map(Number), [8, 3]);
  t.strictSame(init.get('prior')?.dims?.map(Number), [1, 7]);
  t.equal(init.get('nbr_idx')?.dataType, onnxProto.onnx.TensorProto.DataType.INT64);
  t.strictSame((graph.node ?? []).map((n) => n.opType), [
    'Gather', 'Gather', 'Unsqueeze', 'Mul', 'Reshape', 'Reshape', 'Shape', 'Concat', 'Expand', 'ScatterElements', 'TopK',
  ]);
});

t.test('builder rejects inconsistent tables', async (t) => {
  const tables = randomTables(5, 2, 2);
  t.throws(() => buildItemItemOnnx({ ...tables, prior: new Float32Array(4) }), /prior has 4 values, expected N = 5/);
  t.throws(() => buildItemItemOnnx({ ...tables, nbrW: new Float32Array(10) }), /nbrW has 10 values/);
  const badIdx = tables.nbrIdx.slice();
  badIdx[3] = 5;
  t.throws(() => buildItemItemOnnx({ ...tables, nbrIdx: badIdx }), /nbrIdx\[3\] = 5 is outside \[0, 5\)/);
});

for (const { itemCount, neighbours, slots } of [
  { itemCount: 40, neighbours: 4, slots: 6 },
  { itemCount: 1500, neighbours: 20, slots: 12 },
]) {
  t.test(`ONNX equals scoreIndices (N=${itemCount}, k=${neighbours}, L=${slots})`, async (t) => {
    const tables = randomTables(itemCount, neighbours, itemCount);
    // Accept the tables in int64 form too, as the builder's signature promises.
    const bytes = buildItemItemOnnx({ ...tables, nbrIdx: BigInt64Array.from(tables.nbrIdx, (i) => BigInt(i)) });
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    t.teardown(() => session.release());
    let seed = 100;
    for (const rows of [1, 5]) {
      for (const k of [1, 10, itemCount]) {
        const { items, weights } = randomRows(tables, rows, slots, seed++);
        const out = await runOnnx(session, items, weights, rows, k);
        t.strictSame(out.dims, [rows, k]);
        t.strictSame(out.idxDims, [rows, k]);
        let maxDiff = 0;
        let sameOrder = true;
        for (let r = 0; r < rows; r++) {
          const row = items.subarray(r * slots, (r + 1) * slots);
          const ref = scoreIndices(tables, row, weights.subarray(r * slots, (r + 1) * slots), k);
          for (let c = 0; c < k; c++) {
            maxDiff = Math.max(maxDiff, Math.abs(out.scores[r * k + c] - ref.scores[c]));
            if (Number(out.indices[r * k + c]) !== ref.indices[c]) sameOrder = false;
          }
        }
        t.ok(maxDiff <= 1e-5, `B=${rows} k=${k}: max |onnx - ref| = ${maxDiff}`);
        t.equal(maxDiff, 0, `B=${rows} k=${k}: float32 sums agree bit for bit`);
        t.ok(sameOrder, `B=${rows} k=${k}: same indices, ties lower index first`);
      }
    }
  });
}

t.test('padding-only rows score the prior alone', async (t) => {
  const tables = randomTables(30, 3, 9);
  const session = await ort.InferenceSession.create(buildItemItemOnnx(tables));
  t.teardown(() => session.release());
  const items = new Int32Array(8).fill(30);
  const out = await runOnnx(session, items, new Float32Array(8), 2, 30);
  const byPrior = [...tables.prior.keys()].sort((a, b) => tables.prior[b] - tables.prior[a] || a - b);
  t.strictSame([...out.indices.subarray(0, 30)].map(Number), byPrior);
  t.strictSame([...out.indices.subarray(30)].map(Number), byPrior);
  t.strictSame([...out.scores.subarray(0, 30)], byPrior.map((i) => tables.prior[i]));
});
