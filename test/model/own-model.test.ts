import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import t from 'tap';
import { MODEL_CONTRACT } from '../../src/model/types.js';
import { authHeaders, connectClient, startLocalServer, testSecurity } from '../helpers.js';

/**
 * "Bring your own model": a bundle whose model.onnx was written without the project's trainer
 * or graph builder — a low-rank model (Gather, weighted ReduceSum, MatMul, TopK), unlike the
 * trainer's neighbour-scatter graph — loads and serves through the same contract.
 */
const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const ITEMS = ['tea-green', 'tea-black', 'tea-white', 'cup-small', 'cup-large', 'cup-travel'];
// Teas point along x, cups along y; the padding row (index 6) is zero.
const EMBEDDINGS = [
  [1, 0], [0.9, 0.1], [0.8, 0.05],
  [0, 1], [0.1, 0.9], [0.05, 0.8],
  [0, 0],
];

function floats(name: string, dims: number[], values: number[]) {
  return { name, dims, dataType: FLOAT, floatData: values };
}
function ints(name: string, dims: number[], values: number[]) {
  return { name, dims, dataType: INT64, int64Data: values };
}
const info = (name: string, elemType: number, dims: Array<number | string>) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
});

function handBuiltModel(): Uint8Array {
  const { inputs, outputs } = MODEL_CONTRACT;
  const graph = {
    name: 'hand-built-low-rank',
    initializer: [
      floats('E', [7, 2], EMBEDDINGS.flat()),
      floats('E_out_T', [2, 6], [0, 1].flatMap((d) => EMBEDDINGS.slice(0, 6).map((row) => row[d]))),
      ints('axis_last', [1], [-1]),
      ints('axis_one', [1], [1]),
    ],
    node: [
      { opType: 'Gather', input: ['E', inputs.items], output: ['hist'] },
      { opType: 'Unsqueeze', input: [inputs.weights, 'axis_last'], output: ['w3'] },
      { opType: 'Mul', input: ['hist', 'w3'], output: ['weighted'] },
      { opType: 'ReduceSum', input: ['weighted', 'axis_one'], output: ['user'], attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
      { opType: 'MatMul', input: ['user', 'E_out_T'], output: ['scores'] },
      { opType: 'TopK', input: ['scores', inputs.k], output: [outputs.scores, outputs.indices], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
    ],
    input: [info(inputs.items, INT64, ['B', 'L']), info(inputs.weights, FLOAT, ['B', 'L']), info(inputs.k, INT64, [1])],
    output: [info(outputs.scores, FLOAT, ['B', 'K']), info(outputs.indices, INT64, ['B', 'K'])],
  };
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'a test, by hand', opsetImport: [{ domain: '', version: 18 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

t.test('a hand-built low-rank model serves through the bundle contract', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'attune-own-model-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'model.onnx'), handBuiltModel());
  await writeFile(join(dir, 'items.json'), JSON.stringify(ITEMS));
  await writeFile(join(dir, 'popularity.json'), JSON.stringify(ITEMS.map((itemId, i) => ({ itemId, count: 60 - i * 10 }))));
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify({
      format: 'attune-bundle/1',
      version: 'hand-built-1',
      createdAt: '2026-11-25T00:00:00.000Z',
      algorithm: 'low-rank-by-hand',
      parameters: { dim: 2 },
      trainingDataHash: 'none',
      trainingSeconds: 0,
      itemCount: ITEMS.length,
      historyLength: 4,
      interactions: 0,
      users: 0,
      metrics: {},
      contract: MODEL_CONTRACT,
    }),
  );

  const server = await startLocalServer({ modelDir: dir, demoCatalog: false, pushSize: 3, security: testSecurity });
  t.teardown(() => server.close());
  t.equal(server.model.manifest.version, 'hand-built-1');

  const client = await connectClient(server.url, { sessionId: 'tea-drinker' });
  t.teardown(() => client.close());
  const first = await client.push();
  t.strictSame(first.items.map((i) => i.itemId), ['tea-green', 'tea-black', 'tea-white'], 'cold start: the bundle popularity');

  const ack = await client.emit<{ ok: true; eventId: string }>('event', { eventType: 'view', itemId: 'cup-small' });
  const push = await client.push((p) => p.cause?.eventId === ack.eventId);
  t.equal(push.modelVersion, 'hand-built-1');
  t.strictSame(push.items.map((i) => i.itemId), ['cup-small', 'cup-large', 'cup-travel'], 'the cups, by dot product with cup-small');
  t.strictSame(push.items.map((i) => Math.round(i.score * 1000) / 1000), [1, 0.9, 0.8]);

  const related = await fetch(`${server.url}/v1/items/tea-green/related?numResults=2`, { headers: authHeaders });
  t.strictSame(((await related.json()) as { items: Array<{ itemId: string }> }).items.map((i) => i.itemId), ['tea-black', 'tea-white']);
});
