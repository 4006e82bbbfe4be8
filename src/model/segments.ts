import { seededRandom } from '../lib/random.js';

/**
 * User segments: k-means over users' state vectors (their normalized category affinities), so a
 * segment reads as "mostly shoes, some bags". Pure: the same vectors and seed give the same
 * segments.
 */
export interface SegmentModel {
  dimensions: readonly string[];
  centroids: number[][];
  sizes: number[];
}

export interface Segment {
  segmentId: number;
  size: number;
  /** The centroid's heaviest dimensions, as [name, weight]. */
  top: Array<[string, number]>;
}

/** A user's affinities as a unit vector over `dimensions` (all zero when there are none). */
export function toVector(affinity: ReadonlyArray<readonly [string, number]>, dimensions: readonly string[]): number[] {
  const index = new Map(dimensions.map((d, i) => [d, i]));
  const vector = new Array<number>(dimensions.length).fill(0);
  for (const [name, weight] of affinity) {
    const i = index.get(name);
    if (i !== undefined) vector[i] += weight;
  }
  const norm = Math.hypot(...vector);
  return norm > 0 ? vector.map((x) => x / norm) : vector;
}

function squaredDistance(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

export function nearest(centroids: readonly number[][], vector: readonly number[]): { index: number; distance: number } {
  let best = { index: -1, distance: Infinity };
  centroids.forEach((c, index) => {
    const distance = squaredDistance(c, vector);
    if (distance < best.distance) best = { index, distance };
  });
  return { index: best.index, distance: Math.sqrt(best.distance) };
}

/** k-means++ seeding, then Lloyd iterations until assignments stop changing (or `maxIterations`). */
export function kMeans(vectors: readonly number[][], k: number, dimensions: readonly string[], seed = 1, maxIterations = 50): SegmentModel {
  const count = Math.min(k, vectors.length);
  if (count === 0) return { dimensions, centroids: [], sizes: [] };
  const random = seededRandom(seed);
  const centroids: number[][] = [vectors[Math.floor(random() * vectors.length)].slice()];
  while (centroids.length < count) {
    const distances = vectors.map((v) => nearest(centroids, v).distance ** 2);
    const total = distances.reduce((a, b) => a + b, 0);
    if (total === 0) break;
    let r = random() * total;
    let chosen = distances.length - 1;
    for (let i = 0; i < distances.length; i++) {
      r -= distances[i];
      if (r <= 0) {
        chosen = i;
        break;
      }
    }
    centroids.push(vectors[chosen].slice());
  }
  let assignment = vectors.map((v) => nearest(centroids, v).index);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    for (let c = 0; c < centroids.length; c++) {
      const members = vectors.filter((_, i) => assignment[i] === c);
      if (members.length > 0) centroids[c] = members[0].map((_, d) => members.reduce((s, m) => s + m[d], 0) / members.length);
    }
    const next = vectors.map((v) => nearest(centroids, v).index);
    const changed = next.some((a, i) => a !== assignment[i]);
    assignment = next;
    if (!changed) break;
  }
  const sizes = centroids.map((_, c) => assignment.filter((a) => a === c).length);
  return { dimensions, centroids, sizes };
}

export function describeSegments(model: SegmentModel, topN = 3): Segment[] {
  return model.centroids.map((centroid, segmentId) => ({
    segmentId,
    size: model.sizes[segmentId],
    top: centroid
      .map((w, d): [string, number] => [model.dimensions[d], Math.round(w * 1000) / 1000])
      .filter(([, w]) => w > 0)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, topN),
  }));
}
