import onnxProto from 'onnx-proto';
import { MODEL_CONTRACT } from '../model/types.js';
import { WEIGHT_SUM_FLOOR, type EmbeddingTables, type LongTermTables } from '../model/item-item.js';

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
  /** Optional second neighbour table with a flatter recency (see LongTermTables). */
  longTerm?: LongTermTables;
  /** Optional low-rank part added to the neighbour scores (see EmbeddingTables). */
  embedding?: EmbeddingTables;
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
  if (spec.longTerm) {
    const { neighbours: k2, nbrIdx, nbrW, exponent } = spec.longTerm;
    if (!Number.isInteger(k2) || k2 < 1) throw new Error(`onnx-graph: longTerm neighbours must be a positive integer, got ${k2}`);
    if (nbrIdx.length !== (n + 1) * k2 || nbrW.length !== (n + 1) * k2) {
      throw new Error(`onnx-graph: longTerm tables must have (N+1)*k = ${(n + 1) * k2} values`);
    }
    if (!(exponent >= 0) || !Number.isFinite(exponent)) throw new Error(`onnx-graph: longTerm exponent must be finite and >= 0, got ${exponent}`);
    for (let i = 0; i < nbrIdx.length; i++) {
      if (!(nbrIdx[i] >= 0 && nbrIdx[i] < n)) throw new Error(`onnx-graph: longTerm nbrIdx[${i}] = ${nbrIdx[i]} is outside [0, ${n})`);
    }
  }
  if (spec.embedding) {
    const { dim, input, output, bias, logFusion } = spec.embedding;
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`onnx-graph: embedding dim must be a positive integer, got ${dim}`);
    if (bias !== undefined && bias.length !== n) throw new Error(`onnx-graph: embedding bias has ${bias.length} values, expected N = ${n}`);
    if (logFusion !== undefined && !(logFusion.epsilon > 0 && logFusion.scale > 0 && Number.isFinite(logFusion.epsilon + logFusion.scale))) {
      throw new Error('onnx-graph: embedding logFusion needs a positive epsilon and scale');
    }
    if (input.length !== (n + 1) * dim) throw new Error(`onnx-graph: embedding input has ${input.length} values, expected (N+1)*D = ${(n + 1) * dim}`);
    if (output.length !== n * dim) throw new Error(`onnx-graph: embedding output has ${output.length} values, expected N*D = ${n * dim}`);
    for (const [name, values] of [['input', input], ['output', output]] as const) {
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) throw new Error(`onnx-graph: embedding ${name}[${i}] is not finite`);
      }
    }
  }
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
 *             [+ (sum over l of weights[b,l] / sum(weights[b]) * emb_in[items[b,l]]) . emb_out^T]
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
  ];
  let scatterIdx = 'contrib_idx';
  let scatterW = 'contrib';
  if (spec.longTerm) {
    const { neighbours: k2, exponent } = spec.longTerm;
    initializer.push(
      int64Tensor('lt_nbr_idx', [n + 1, k2], toBigInt64(spec.longTerm.nbrIdx)),
      floatTensor('lt_nbr_w', [n + 1, k2], spec.longTerm.nbrW),
    );
    if (exponent === 0) {
      // Every item of the state counts 1, padding 0.
      initializer.push(floatTensor('lt_zero', [1], Float32Array.of(0)));
      nodes.push(
        node('Greater', [weights, 'lt_zero'], ['lt_present']),
        node('Cast', ['lt_present'], ['lt_slot_w'], { to: FLOAT }),
      );
    } else {
      initializer.push(floatTensor('lt_floor', [1], Float32Array.of(WEIGHT_SUM_FLOOR)), int64Tensor('lt_axis_1', [1], BigInt64Array.of(1n)));
      nodes.push(
        node('ReduceMax', [weights, 'lt_axis_1'], ['lt_max'], { keepdims: 1 }), // [B, 1]
        node('Max', ['lt_max', 'lt_floor'], ['lt_norm']),
        node('Div', [weights, 'lt_norm'], [exponent === 1 ? 'lt_slot_w' : 'lt_relative']),
      );
      if (exponent !== 1) {
        initializer.push(floatTensor('lt_exponent', [1], Float32Array.of(exponent)));
        nodes.push(node('Pow', ['lt_relative', 'lt_exponent'], ['lt_slot_w']));
      }
    }
    nodes.push(
      node('Gather', ['lt_nbr_idx', items], ['lt_hist_idx'], { axis: 0 }), // [B, L, k2]
      node('Gather', ['lt_nbr_w', items], ['lt_hist_w'], { axis: 0 }), // [B, L, k2]
      node('Unsqueeze', ['lt_slot_w', 'unsqueeze_axes'], ['lt_slot_w_3d']), // [B, L, 1]
      node('Mul', ['lt_hist_w', 'lt_slot_w_3d'], ['lt_contrib_3d']),
      node('Reshape', ['lt_hist_idx', 'flat_shape'], ['lt_contrib_idx']), // [B, L*k2]
      node('Reshape', ['lt_contrib_3d', 'flat_shape'], ['lt_contrib']),
      // Main table first, then the long-term one: the order the twin sums in.
      node('Concat', ['contrib_idx', 'lt_contrib_idx'], ['all_contrib_idx'], { axis: 1 }),
      node('Concat', ['contrib', 'lt_contrib'], ['all_contrib'], { axis: 1 }),
    );
    scatterIdx = 'all_contrib_idx';
    scatterW = 'all_contrib';
  }
  nodes.push(
    node('ScatterElements', ['base_scores', scatterIdx, scatterW], [spec.embedding ? 'nbr_scores' : 'scores'], {
      axis: 1,
      reduction: 'add',
    }),
  );
  if (spec.embedding) {
    const { dim } = spec.embedding;
    // Stored transposed, [D, N], so the last MatMul needs no Transpose at run time.
    const outputT = new Float32Array(dim * n);
    for (let j = 0; j < n; j++) for (let x = 0; x < dim; x++) outputT[x * n + j] = spec.embedding.output[j * dim + x];
    initializer.push(
      floatTensor('emb_in', [n + 1, dim], spec.embedding.input),
      floatTensor('emb_out_t', [dim, n], outputT),
      floatTensor('weight_floor', [1], Float32Array.of(WEIGHT_SUM_FLOOR)),
      int64Tensor('axis_1', [1], BigInt64Array.of(1n)),
    );
    nodes.push(
      node('Gather', ['emb_in', items], ['hist_emb'], { axis: 0 }), // [B, L, D]
      node('ReduceSum', [weights, 'axis_1'], ['weight_sum'], { keepdims: 1 }), // [B, 1]
      node('Max', ['weight_sum', 'weight_floor'], ['weight_norm']), // [B, 1]
      node('Div', [weights, 'weight_norm'], ['pool_weights']), // [B, L]
      node('Unsqueeze', ['pool_weights', 'axis_1'], ['pool_weights_3d']), // [B, 1, L]
      node('MatMul', ['pool_weights_3d', 'hist_emb'], ['pooled_3d']), // [B, 1, D]
      node('Squeeze', ['pooled_3d', 'axis_1'], ['pooled']), // [B, D]
      node('MatMul', ['pooled', 'emb_out_t'], [spec.embedding.bias ? 'emb_dot' : 'emb_scores']), // [B, N]
    );
    if (spec.embedding.bias) {
      initializer.push(floatTensor('emb_bias', [1, n], spec.embedding.bias));
      nodes.push(node('Add', ['emb_dot', 'emb_bias'], ['emb_scores']));
    }
    let neighbourPart = 'nbr_scores';
    if (spec.embedding.logFusion) {
      // scale * ln(epsilon + neighbour score): the neighbour part as a log-probability.
      initializer.push(
        floatTensor('fusion_epsilon', [1], Float32Array.of(spec.embedding.logFusion.epsilon)),
        floatTensor('fusion_scale', [1], Float32Array.of(spec.embedding.logFusion.scale)),
      );
      nodes.push(
        node('Add', ['nbr_scores', 'fusion_epsilon'], ['nbr_shifted']),
        node('Log', ['nbr_shifted'], ['nbr_log']),
        node('Mul', ['nbr_log', 'fusion_scale'], ['nbr_log_scaled']),
      );
      neighbourPart = 'nbr_log_scaled';
    }
    nodes.push(node('Add', [neighbourPart, 'emb_scores'], ['scores'])); // [B, N]
  }
  nodes.push(node('TopK', ['scores', topK], [topScores, topIndices], { axis: 1, largest: 1, sorted: 1 }));

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
