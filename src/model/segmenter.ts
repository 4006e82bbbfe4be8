import { categoryWeights, type SessionState } from '../session/state.js';
import type { CatalogIndex } from './catalog.js';
import { describeSegments, kMeans, nearest, toVector, type Segment, type SegmentModel } from './segments.js';

export interface SegmenterDeps {
  /** Every identified user's actor key. */
  userKeys: () => Promise<string[]>;
  stateOf: (key: string) => Promise<SessionState>;
  catalog: CatalogIndex;
  segmentCount: number;
  refreshMs: number;
  now?: () => number;
}

/**
 * Clusters identified users by their category affinities, recomputed at most every `refreshMs`
 * and once at a time, however many requests ask.
 */
export class Segmenter {
  private model: { segments: SegmentModel; computedAt: number; users: number } | null = null;
  private computing: Promise<void> | null = null;

  constructor(private readonly deps: SegmenterDeps) {}

  async segments(): Promise<{ segments: Segment[]; computedAt: number; users: number }> {
    const { segments, computedAt, users } = await this.current();
    return { segments: describeSegments(segments), computedAt, users };
  }

  /** The segment nearest to this state now (null when the state has no affinities or there are no segments). */
  async segmentOf(state: SessionState): Promise<{ segmentId: number; distance: number } | null> {
    const { segments } = await this.current();
    const vector = toVector(categoryWeights(state), segments.dimensions);
    if (segments.centroids.length === 0 || vector.every((x) => x === 0)) return null;
    const { index, distance } = nearest(segments.centroids, vector);
    return { segmentId: index, distance: Math.round(distance * 1e6) / 1e6 };
  }

  private async current(): Promise<{ segments: SegmentModel; computedAt: number; users: number }> {
    const now = (this.deps.now ?? Date.now)();
    if (this.model === null || now - this.model.computedAt >= this.deps.refreshMs) {
      this.computing ??= this.compute(now).finally(() => (this.computing = null));
      await this.computing;
    }
    if (this.model === null) throw new Error('segments were not computed');
    return this.model;
  }

  private async compute(now: number): Promise<void> {
    const dimensions = [...new Set(this.deps.catalog.all().map((i) => i.category))].sort();
    const vectors: number[][] = [];
    for (const key of await this.deps.userKeys()) {
      const vector = toVector(categoryWeights(await this.deps.stateOf(key)), dimensions);
      if (vector.some((x) => x !== 0)) vectors.push(vector);
    }
    this.model = { segments: kMeans(vectors, this.deps.segmentCount, dimensions), computedAt: now, users: vectors.length };
  }
}
