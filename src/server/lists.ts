import { ListCache } from '../cache/list-cache.js';
import type { SharedLayer } from '../cache/shared-layer.js';
import type { AttuneConfig } from '../config.js';
import type { CatalogIndex } from '../model/catalog.js';
import type { Metrics } from '../ops/metrics.js';

export interface ListCaches {
  /** Null when caching is off. */
  lists: { recommendations: ListCache; related: ListCache } | null;
  /** Drops every cached list of these actor keys (an erasure). */
  forget(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** The cached lists for keys with no live actor on the answering node, and for related items. */
export async function openListCaches(config: AttuneConfig, layer: SharedLayer, metrics: Metrics, catalog: CatalogIndex, onError: (err: unknown, context: string) => void): Promise<ListCaches> {
  const lists = config.cache.enabled
    ? {
        recommendations: new ListCache('recommendations', layer, config.cache, metrics, catalog, onError),
        related: new ListCache('related', layer, config.cache, metrics, catalog, onError),
      }
    : null;
  const caches = Object.values(lists ?? {});
  for (const cache of caches) await cache.listen();
  return {
    lists,
    forget: async (keys) => {
      for (const cache of caches) for (const key of keys) await cache.invalidate(`${key}|`);
    },
    close: async () => {
      for (const cache of caches) await cache.close();
    },
  };
}
