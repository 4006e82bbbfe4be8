import onnxProto from 'onnx-proto';
import { MODEL_CONTRACT } from './types.js';

const { onnx } = onnxProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;
type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** Opset 18 is the first with ScatterElements reduction 'add' *and* Shape start/end together. */
export const ITEM_ITEM_OPSET = 18;
/** IR 8 is what onnx-proto's schema knows; onnxruntime 1.30 loads IR 3..11. */
export const ITEM_ITEM_IR_VERSION = 8;

export interface ItemItemGraphSpec {
  /** N: vocabulary size. */
  itemCount: number;
  /** k: neighbour slots per item. */
  neighbours: number;
  /** [(N + 1) * k] neighbour indices, row N being the padding row (all 0). */
  nbrIdx: BigInt64Array | Int32Array | readonly number[];
  /** [(N + 1) * k] neighbour weights, row N all 0. */
  nbrW: Float32Array;
  /** [N] popularity prior, already scaled by its blend weight. */
  prior: Float32Array;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

/** Raw little-endian bytes of a typed array (the layout ONNX raw_data requires). */
function rawBytes(view: BigInt64Array | Float32Array): Uint8Array {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('onnx-graph: big-endian hosts are not supported');
  }
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function int64Tensor(name: string, dims: number[], values: BigInt64Array): TensorProto {
  return { name, dims, dataType: INT64, rawData: rawBytes(values) };
}

function floatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  return { name, dims, dataType: FLOAT, rawData: rawBytes(values) };
}

type AttributeValue = number | string;

function attribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'string') {
    return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: Record<string, AttributeValue> = {},
): NodeProto {
  return {
    opType,
    name: `${opType}_${outputs[0]}`,
    input: inputs,
    output: outputs,
    attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
  };
}

/** A tensor value info; string dims are symbolic (batch size, K). */
function tensorInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function toBigInt64(values: ItemItemGraphSpec['nbrIdx']): BigInt64Array {
  if (values instanceof BigInt64Array) return values;
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
}

function validate(spec: ItemItemGraphSpec): void {
  const { itemCount: n, neighbours: k } = spec;
  if (!Number.isInteger(n) || n < 1) throw new Error(`onnx-graph: itemCount must be a positive integer, got ${n}`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`onnx-graph: neighbours must be a positive integer, got ${k}`);
  const tableSize = (n + 1) * k;
  if (spec.nbrIdx.length !== tableSize) {
    throw new Error(`onnx-graph: nbrIdx has ${spec.nbrIdx.length} values, expected (N+1)*k = ${tableSize}`);
  }
  if (spec.nbrW.length !== tableSize) {
    throw new Error(`onnx-graph: nbrW has ${spec.nbrW.length} values, expected (N+1)*k = ${tableSize}`);
  }
  if (spec.prior.length !== n) throw new Error(`onnx-graph: prior has ${spec.prior.length} values, expected N = ${n}`);
  for (let i = 0; i < spec.nbrIdx.length; i++) {
    // ScatterElements rejects out-of-range targets at run time; catch it at build time instead.
    const target = Number(spec.nbrIdx[i]);
    if (!(target >= 0 && target < n)) throw new Error(`onnx-graph: nbrIdx[${i}] = ${target} is outside [0, ${n})`);
  }
}

/**
 * Builds the item-item scoring model honouring MODEL_CONTRACT:
 *   scores[b] = prior + sum over slots l and neighbour t of nbr_w[items[b,l], t] * weights[b,l]
 *               scattered onto item nbr_idx[items[b,l], t]
 * followed by TopK. Returns the serialized ModelProto.
 */
export function buildItemItemOnnx(spec: ItemItemGraphSpec): Uint8Array {
  validate(spec);
  const { itemCount: n, neighbours: k } = spec;
  const { items, weights, k: topK } = MODEL_CONTRACT.inputs;
  const { scores: topScores, indices: topIndices } = MODEL_CONTRACT.outputs;

  const initializer: TensorProto[] = [
    int64Tensor('nbr_idx', [n + 1, k], toBigInt64(spec.nbrIdx)),
    floatTensor('nbr_w', [n + 1, k], spec.nbrW),
    floatTensor('prior', [1, n], spec.prior),
    int64Tensor('unsqueeze_axes', [1], BigInt64Array.of(2n)),
    // Reshape's 0 copies the batch dimension, -1 folds L and k together.
    int64Tensor('flat_shape', [2], BigInt64Array.of(0n, -1n)),
    int64Tensor('item_count', [1], BigInt64Array.of(BigInt(n))),
  ];

  const nodes: NodeProto[] = [
    node('Gather', ['nbr_idx', items], ['hist_nbr_idx'], { axis: 0 }), // [B, L, k]
    node('Gather', ['nbr_w', items], ['hist_nbr_w'], { axis: 0 }), // [B, L, k]
    node('Unsqueeze', [weights, 'unsqueeze_axes'], ['slot_weights']), // [B, L, 1]
    node('Mul', ['hist_nbr_w', 'slot_weights'], ['contrib_3d']), // [B, L, k]
    node('Reshape', ['hist_nbr_idx', 'flat_shape'], ['contrib_idx']), // [B, L*k]
    node('Reshape', ['contrib_3d', 'flat_shape'], ['contrib']), // [B, L*k]
    node('Shape', [items], ['batch_size'], { start: 0, end: 1 }), // [1] = [B]
    node('Concat', ['batch_size', 'item_count'], ['score_shape'], { axis: 0 }), // [2] = [B, N]
    node('Expand', ['prior', 'score_shape'], ['base_scores']), // [B, N]
    node('ScatterElements', ['base_scores', 'contrib_idx', 'contrib'], ['scores'], { axis: 1, reduction: 'add' }),
    node('TopK', ['scores', topK], [topScores, topIndices], { axis: 1, largest: 1, sorted: 1 }),
  ];

  const model: onnxProto.onnx.IModelProto = {
    irVersion: ITEM_ITEM_IR_VERSION,
    opsetImport: [{ domain: '', version: ITEM_ITEM_OPSET }],
    producerName: spec.producerName ?? 'attune',
    producerVersion: spec.producerVersion ?? '0',
    docString: spec.docString ?? 'Attune item-item co-occurrence scorer',
    graph: {
      name: 'item_item_scorer',
      node: nodes,
      initializer,
      input: [
        tensorInfo(items, INT64, ['B', 'L']),
        tensorInfo(weights, FLOAT, ['B', 'L']),
        tensorInfo(topK, INT64, [1]),
      ],
      output: [tensorInfo(topScores, FLOAT, ['B', 'K']), tensorInfo(topIndices, INT64, ['B', 'K'])],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}
