import { addEmbeddingScores, scoreAll, type ItemItemModel } from '../model/item-item.js';
import type { EmbeddingModel, Fusion } from './embeddings.js';
import { MetricAccumulator } from './eval-metrics.js';
import type { Protocol } from './eval-cases.js';
import { rankInScores, type EncodedCases } from './twin-scoring.js';
import { objectiveOf, tuningSpec } from './tuning-objective.js';

// Embedding blend: whether and how the low-rank embedding part joins the item-item scores.

export interface BlendChoice {
  /** null: no embedding part. */
  fusion: Fusion | null;
  metrics: Record<string, number>;
  /** Objective of each fusion tried. */
  tried: Record<string, number>;
}

/** Linear blend weights tried for the embedding part. */
export const BLEND_WEIGHTS = [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1, 3];
/** Log fusions tried: scale * ln(epsilon + neighbour score) + embedding score. */
export const LOG_FUSION_SCALES = [0.5, 1, 2, 4];
export const LOG_FUSION_EPSILON = 0.01;

export function describeFusion(fusion: Fusion | null): string {
  if (fusion === null) return 'none';
  return fusion.kind === 'linear' ? `linear ${fusion.weight}` : `log ${fusion.scale} (epsilon ${fusion.epsilon})`;
}

/** Picks how to blend the embedding part in (or not) on validation cases, with the twin. */
export function chooseBlend(model: ItemItemModel, embedding: EmbeddingModel, cases: EncodedCases, protocol: Protocol): BlendChoice {
  const spec = tuningSpec(protocol);
  const fusions: (Fusion | null)[] = [
    null,
    ...BLEND_WEIGHTS.map((weight): Fusion => ({ kind: 'linear', weight })),
    ...LOG_FUSION_SCALES.map((scale): Fusion => ({ kind: 'log', epsilon: LOG_FUSION_EPSILON, scale })),
  ];
  const accumulators = fusions.map(() => new MetricAccumulator({ ...spec, coverage: [] }));
  const n = model.itemCount;
  const L = cases.historyLength;
  const base = new Float32Array(n);
  const emb = new Float32Array(n);
  const mixed = new Float32Array(n);
  const unit = { dim: embedding.dim, input: embedding.input, output: embedding.output };
  for (let c = 0; c < cases.count; c++) {
    const idx = cases.indices.subarray(c * L, (c + 1) * L);
    const w = cases.weights.subarray(c * L, (c + 1) * L);
    scoreAll(model, idx, w, base);
    emb.set(embedding.bias);
    addEmbeddingScores(unit, n, idx, w, emb);
    fusions.forEach((fusion, x) => {
      if (fusion === null) mixed.set(base);
      else if (fusion.kind === 'linear') for (let j = 0; j < n; j++) mixed[j] = base[j] + fusion.weight * emb[j];
      else for (let j = 0; j < n; j++) mixed[j] = fusion.scale * Math.log(fusion.epsilon + base[j]) + emb[j];
      accumulators[x].add(rankInScores(mixed, cases, c));
    });
  }
  const tried: Record<string, number> = {};
  let bestAt = 0;
  let best = -Infinity;
  fusions.forEach((fusion, x) => {
    const objective = objectiveOf(protocol, accumulators[x].result());
    tried[describeFusion(fusion)] = objective;
    if (objective > best + 1e-9) {
      best = objective;
      bestAt = x;
    }
  });
  return { fusion: fusions[bestAt], metrics: accumulators[bestAt].result(), tried };
}
