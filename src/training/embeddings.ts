import { performance } from 'node:perf_hooks';
import { WEIGHT_SUM_FLOOR, type ItemItemModel } from '../model/item-item.js';
import type { PreparedData } from './trainer.js';
import { replayEncoded, type EncodingShape } from './replay.js';
import { seededRandom } from '../lib/random.js';

/**
 * Low-rank item embeddings for the blended model: an item's score is the dot product of its
 * output embedding with the weighted mean of the input embeddings of the state's items (the
 * weights the reducer gave them), plus a bias. Trained with sampled softmax over the next item,
 * in TypeScript over Float32Arrays.
 */
export interface EmbeddingParams {
  /** D: embedding width. */
  dim: number;
  epochs: number;
  /** Adagrad step size. */
  learningRate: number;
  /** Uniformly sampled negatives, shared by the examples of one batch. */
  negatives: number;
  /**
   * Negatives are drawn with probability proportional to count^negativePower (0: uniform), and
   * every logit is corrected by -log(probability) (sampled softmax), so the model still
   * estimates the full softmax.
   */
  negativePower: number;
  batch: number;
  seed: number;
}

export const DEFAULT_EMBEDDING_PARAMS: Readonly<EmbeddingParams> = Object.freeze({
  dim: 64,
  epochs: 10,
  learningRate: 0.05,
  negatives: 256,
  negativePower: 0.75,
  batch: 128,
  seed: 1,
});

/** Next-item examples: the encoded state before each interaction (but a user's first) and the item. */
export interface TrainingExamples {
  historyLength: number;
  count: number;
  /** [count * historyLength] vocabulary indices; padding = itemCount. */
  indices: Int32Array;
  /** [count * historyLength] reducer weights (0 for padding). */
  weights: Float32Array;
  /** [count] the next item. */
  targets: Int32Array;
}

/** Replays every training sequence through the reducer (see replay.ts) and keeps each next-item example. */
export function buildExamples(data: PreparedData, shape: EncodingShape): TrainingExamples {
  const L = shape.historyLength;
  let count = 0;
  for (const sequence of data.sequences) count += Math.max(0, sequence.length - 1);
  const indices = new Int32Array(count * L);
  const weights = new Float32Array(count * L);
  const targets = new Int32Array(count);
  let at = 0;
  data.sequences.forEach((items, u) => {
    const sequence = { items, times: data.times[u], types: data.eventTypeOf[u] };
    replayEncoded(sequence, shape, items.length - 1, (step, encoded) => {
      indices.set(encoded.indices, at * L);
      weights.set(encoded.weights, at * L);
      targets[at] = items[step + 1];
      at++;
    });
  });
  return { historyLength: L, count, indices, weights, targets };
}

export interface EmbeddingModel {
  dim: number;
  itemCount: number;
  /** [(itemCount + 1) * dim]; the padding row stays 0. */
  input: Float32Array;
  /** [itemCount * dim]. */
  output: Float32Array;
  /** [itemCount]. */
  bias: Float32Array;
  params: EmbeddingParams;
  epochsRun: number;
  trainingSeconds: number;
}

export interface EmbeddingTrainingOptions {
  /** Called after each epoch with the mean sampled-softmax loss. */
  onEpoch?: (epoch: number, loss: number, model: EmbeddingModel) => void;
  /** performance.now() value no epoch should end after (at least one epoch always runs). */
  deadline?: number;
}

export function trainEmbeddings(
  examples: TrainingExamples,
  itemCount: number,
  overrides: Partial<EmbeddingParams> = {},
  options: EmbeddingTrainingOptions = {},
): EmbeddingModel {
  const started = performance.now();
  const params: EmbeddingParams = { ...DEFAULT_EMBEDDING_PARAMS, ...overrides };
  const { dim: D, negatives: M, batch: B, learningRate: lr } = params;
  for (const name of ['dim', 'epochs', 'negatives', 'batch'] as const) {
    if (!Number.isInteger(params[name]) || params[name] < 1) throw new Error(`trainEmbeddings: ${name} must be a positive integer, got ${params[name]}`);
  }
  if (!(lr > 0)) throw new Error(`trainEmbeddings: learningRate must be > 0, got ${lr}`);
  const n = itemCount;
  const L = examples.historyLength;
  const random = seededRandom(params.seed);
  // Float64 while training (no float32 conversions in the inner loops), float32 in the result.
  const input = new Float64Array((n + 1) * D);
  const output = new Float64Array(n * D);
  const bias = new Float64Array(n);
  for (let i = 0; i < n * D; i++) {
    input[i] = (random() - 0.5) * 0.1;
    output[i] = (random() - 0.5) * 0.1;
  }
  // Adagrad accumulators.
  const accIn = new Float64Array((n + 1) * D).fill(1e-6);
  const accOut = new Float64Array(n * D).fill(1e-6);
  const accBias = new Float64Array(n).fill(1e-6);

  // Sampling distribution of negatives and its log, for the sampled-softmax correction.
  const counts = new Float64Array(n);
  for (let e = 0; e < examples.count; e++) counts[examples.targets[e]]++;
  const cumulative = new Float64Array(n);
  const logQ = new Float64Array(n);
  let total = 0;
  for (let j = 0; j < n; j++) total += (counts[j] + 1) ** params.negativePower;
  let running = 0;
  for (let j = 0; j < n; j++) {
    const q = (counts[j] + 1) ** params.negativePower / total;
    running += q;
    cumulative[j] = running;
    logQ[j] = params.negativePower === 0 ? 0 : Math.log(q);
  }
  const drawNegative = (): number => {
    if (params.negativePower === 0) return Math.floor(random() * n);
    const target = random() * running;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const order = Int32Array.from({ length: examples.count }, (_, e) => e);
  const negs = new Int32Array(M);
  const negGrad = new Float64Array(M * D);
  const negBiasGrad = new Float64Array(M);
  const pooled = new Float64Array(D);
  const gradPooled = new Float64Array(D);
  const poolW = new Float64Array(L);
  const logits = new Float64Array(M + 1);
  const model: EmbeddingModel = {
    dim: D,
    itemCount: n,
    input: new Float32Array(0),
    output: new Float32Array(0),
    bias: new Float32Array(0),
    params,
    epochsRun: 0,
    trainingSeconds: 0,
  };
  const publish = (): void => {
    model.input = Float32Array.from(input);
    model.output = Float32Array.from(output);
    model.bias = Float32Array.from(bias);
  };

  let lastEpochMs = 0;
  for (let epoch = 0; epoch < params.epochs; epoch++) {
    // No epoch starts that would end after the deadline (judged by the previous one).
    if (options.deadline !== undefined && epoch > 0 && performance.now() + lastEpochMs > options.deadline) break;
    const epochStarted = performance.now();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const swap = order[i];
      order[i] = order[j];
      order[j] = swap;
    }
    let loss = 0;
    for (let b0 = 0; b0 < order.length; b0 += B) {
      for (let m = 0; m < M; m++) negs[m] = drawNegative();
      negGrad.fill(0);
      negBiasGrad.fill(0);
      const bEnd = Math.min(order.length, b0 + B);
      for (let e = b0; e < bEnd; e++) {
        const ex = order[e];
        const target = examples.targets[ex];
        const rowBase = ex * L;
        // Pool with the graph's normalisation: weights / max(sum, floor).
        let sum = 0;
        for (let l = 0; l < L; l++) sum += examples.weights[rowBase + l];
        const norm = Math.max(sum, WEIGHT_SUM_FLOOR);
        pooled.fill(0);
        for (let l = 0; l < L; l++) {
          const w = examples.weights[rowBase + l] / norm;
          poolW[l] = w;
          if (w === 0) continue;
          const base = examples.indices[rowBase + l] * D;
          for (let x = 0; x < D; x++) pooled[x] += w * input[base + x];
        }
        // Logits of the target (slot 0) and the shared negatives; a negative equal to the target is masked.
        let max = -Infinity;
        for (let m = 0; m <= M; m++) {
          const j = m === 0 ? target : negs[m - 1];
          let z: number;
          if (m > 0 && j === target) z = -Infinity;
          else {
            z = bias[j] - logQ[j];
            const base = j * D;
            for (let x = 0; x < D; x++) z += pooled[x] * output[base + x];
          }
          logits[m] = z;
          if (z > max) max = z;
        }
        let partition = 0;
        for (let m = 0; m <= M; m++) {
          logits[m] = Math.exp(logits[m] - max);
          partition += logits[m];
        }
        loss -= Math.log(logits[0] / partition);
        gradPooled.fill(0);
        // Target: gradient p - 1, applied now.
        {
          const g = logits[0] / partition - 1;
          const base = target * D;
          for (let x = 0; x < D; x++) {
            gradPooled[x] += g * output[base + x];
            const go = g * pooled[x];
            accOut[base + x] += go * go;
            output[base + x] -= (lr * go) / Math.sqrt(accOut[base + x]);
          }
          accBias[target] += g * g;
          bias[target] -= (lr * g) / Math.sqrt(accBias[target]);
        }
        // Negatives: gradient p, accumulated over the batch.
        for (let m = 1; m <= M; m++) {
          const g = logits[m] / partition;
          if (g < 1e-6) continue;
          const j = negs[m - 1];
          const base = j * D;
          const gBase = (m - 1) * D;
          for (let x = 0; x < D; x++) {
            gradPooled[x] += g * output[base + x];
            negGrad[gBase + x] += g * pooled[x];
          }
          negBiasGrad[m - 1] += g;
        }
        // Inputs: each slot's embedding moves by its pooling weight.
        for (let l = 0; l < L; l++) {
          const w = poolW[l];
          if (w === 0) continue;
          const base = examples.indices[rowBase + l] * D;
          for (let x = 0; x < D; x++) {
            const gi = w * gradPooled[x];
            accIn[base + x] += gi * gi;
            input[base + x] -= (lr * gi) / Math.sqrt(accIn[base + x]);
          }
        }
      }
      for (let m = 0; m < M; m++) {
        const g = negBiasGrad[m];
        if (g === 0) continue;
        const j = negs[m];
        const base = j * D;
        const gBase = m * D;
        for (let x = 0; x < D; x++) {
          const go = negGrad[gBase + x];
          accOut[base + x] += go * go;
          output[base + x] -= (lr * go) / Math.sqrt(accOut[base + x]);
        }
        accBias[j] += g * g;
        bias[j] -= (lr * g) / Math.sqrt(accBias[j]);
      }
    }
    // The padding row never moves: it has no examples, and its weight is 0.
    model.epochsRun = epoch + 1;
    lastEpochMs = performance.now() - epochStarted;
    model.trainingSeconds = (performance.now() - started) / 1000;
    if (options.onEpoch) {
      publish();
      options.onEpoch(epoch, examples.count === 0 ? 0 : loss / examples.count, model);
    }
  }
  input.fill(0, n * D);
  publish();
  model.trainingSeconds = (performance.now() - started) / 1000;
  return model;
}

/** How the embedding part joins the neighbour scores (see EmbeddingTables). */
export type Fusion = { kind: 'linear'; weight: number } | { kind: 'log'; epsilon: number; scale: number };

/**
 * The item-item model with the embedding part blended in. Linear: output embeddings and biases
 * scaled by the weight, biases joining the prior. Log: scale * ln(epsilon + neighbour score) +
 * embedding score, biases kept apart.
 */
export function blendEmbedding(model: ItemItemModel, embedding: EmbeddingModel, fusion: Fusion | number): ItemItemModel {
  const how: Fusion = typeof fusion === 'number' ? { kind: 'linear', weight: fusion } : fusion;
  if (embedding.itemCount !== model.itemCount) {
    throw new Error(`blendEmbedding: embedding has ${embedding.itemCount} items, model ${model.itemCount}`);
  }
  const common = {
    dim: embedding.dim,
    epochs: embedding.epochsRun,
    learningRate: embedding.params.learningRate,
    negatives: embedding.params.negatives,
    negativePower: embedding.params.negativePower,
    batch: embedding.params.batch,
    seed: embedding.params.seed,
  };
  if (how.kind === 'log') {
    if (!(how.epsilon > 0) || !(how.scale > 0)) throw new Error('blendEmbedding: log fusion needs a positive epsilon and scale');
    return {
      ...model,
      embedding: { dim: embedding.dim, input: embedding.input, output: embedding.output, bias: embedding.bias, logFusion: { epsilon: how.epsilon, scale: how.scale } },
      embeddingParams: { ...common, logFusion: 1, logEpsilon: how.epsilon, logScale: how.scale },
    };
  }
  const weight = how.weight;
  if (!(weight > 0) || !Number.isFinite(weight)) throw new Error(`blendEmbedding: weight must be > 0, got ${weight}`);
  const prior = Float32Array.from(model.prior, (p, j) => p + weight * embedding.bias[j]);
  const output = Float32Array.from(embedding.output, (v) => v * weight);
  return {
    ...model,
    prior,
    embedding: { dim: embedding.dim, input: embedding.input, output },
    embeddingParams: { ...common, blend: weight },
  };
}
