import { randomUUID } from 'node:crypto';
import type { AttuneConfig } from '../config.js';
import type { CatalogIndex } from '../model/catalog.js';
import type { RecommendationList, RecommendedItem } from '../model/recommend.js';
import type { Metrics } from '../ops/metrics.js';
import type { SharedLayer } from './shared-layer.js';
import { SwrCache, type CacheCounters, type CacheErrorContext, type CacheSource } from './swr-cache.js';

/**
 * What a cache keeps of a list: a few more candidates than asked for, so that the list still
 * has n items after some of them went out of stock. Stock is applied when the list is served,
 * from this node's catalog copy, so a cached list never shows an item that is out of stock now.
 */
interface CachedList {
  items: RecommendedItem[];
  modelVersion: string;
  source: 'model' | 'popular';
}

/** Candidates kept beyond the n asked for. */
export const SPARE_CANDIDATES = 10;

/** What the cache's fallback answers: the caller's popularity list replaces it. Never cached. */
const NO_LIST: CachedList = { items: [], modelVersion: '', source: 'popular' };

export interface ServedList {
  list: RecommendationList;
  /** Where the list came from: `computed` for a fresh computation, `fallback` for the popularity fallback. */
  cache: CacheSource | 'bypass';
}

export interface ListRequest {
  /** Identifies the list among this cache's lists (who it is for, the model, n and the filters). */
  key: string;
  n: number;
  /** Drop items out of stock at serve time (the request's filter says so). */
  excludeOutOfStock: boolean;
  /** Computes the list with `candidates` items; may throw (the store or the model failing). */
  compute: (candidates: number) => Promise<RecommendationList>;
  /** The popularity list, when nothing computed or cached can be served. Must not depend on Redis. */
  fallback: (n: number) => Promise<RecommendationList>;
}

/** One kind of cached list ('recommendations', 'related') over the two cache layers, with its metrics. */
export class ListCache {
  private readonly cache: SwrCache<CachedList>;

  constructor(
    readonly name: string,
    layer: SharedLayer,
    settings: AttuneConfig['cache'],
    metrics: Metrics,
    private readonly catalog: CatalogIndex,
    onError: (err: unknown, context: string) => void,
  ) {
    this.cache = new SwrCache<CachedList>({
      name,
      layer,
      l1Max: settings.localMax,
      freshMs: settings.freshMs,
      staleMs: settings.staleMs,
      // Longer than the slowest list computation (a log replay plus one inference).
      lockTtlMs: Math.max(2000, settings.lockWaitMs * 4),
      lockWaitMs: settings.lockWaitMs,
      counters: countersFor(metrics, name),
      onError: (err: unknown, context: CacheErrorContext) => onError(err, `cache ${context.cache} ${context.operation} ${context.key}`),
    });
  }

  /** Starts dropping this node's copies of lists other nodes invalidate. */
  listen(): Promise<void> {
    return this.cache.listen();
  }

  async list(request: ListRequest): Promise<ServedList> {
    const { key, n, excludeOutOfStock } = request;
    const result = await this.cache.get(
      key,
      async () => {
        const computed = await request.compute(n + SPARE_CANDIDATES);
        // A list the model could not score in time is not worth keeping: a stale model list is better.
        if (computed.fallback !== null) throw new Error(`the model fell back (${computed.fallback}) computing ${this.name} ${key}`);
        return toCached(computed);
      },
      () => NO_LIST,
    );
    if (result.source === 'fallback') return { list: await request.fallback(n), cache: 'fallback' };
    const cached = result.value;
    const items = (excludeOutOfStock ? cached.items.filter((item) => this.catalog.isInStock(item.itemId)) : cached.items).slice(0, n);
    // Each answer is its own recommendation, as far as attribution goes.
    return { list: { items, recommendationId: randomUUID(), modelVersion: cached.modelVersion, source: cached.source, fallback: null }, cache: result.source };
  }

  /**
   * Drops the cached lists whose key starts with `prefix` (all of them by default) on every
   * node: here, in the shared layer, and on the others through the invalidation bus. Rejects
   * when the shared layer cannot be reached (this node's copies are gone by then).
   */
  invalidate(prefix = ''): Promise<void> {
    return this.cache.invalidatePrefix(prefix);
  }

  close(): Promise<void> {
    return this.cache.close();
  }
}

function toCached(list: RecommendationList): CachedList {
  return { items: list.items, modelVersion: list.modelVersion, source: list.source };
}

function countersFor(metrics: Metrics, cache: string): CacheCounters {
  return {
    hit: (layer) => metrics.cacheLookups.inc({ cache, outcome: layer === 'local' ? 'hit_local' : 'hit_shared' }),
    staleHit: () => metrics.cacheLookups.inc({ cache, outcome: 'stale' }),
    miss: () => metrics.cacheLookups.inc({ cache, outcome: 'miss' }),
    refresh: () => metrics.cacheRefreshes.inc({ cache }),
    lockWait: () => metrics.cacheLockWaits.inc({ cache }),
    fallback: (reason) => metrics.cacheFallbacks.inc({ cache, reason }),
  };
}
