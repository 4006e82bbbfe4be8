import type { ActorHost } from '../../actors/actor-host.js';
import type { ListCache } from '../../cache/list-cache.js';
import type { AttuneConfig } from '../../config.js';
import type { CatalogIndex } from '../../model/catalog.js';
import type { ItemTrends } from '../../model/item-trends.js';
import type { ModelSlot } from '../../model/model-slot.js';
import type { Segmenter } from '../../model/segmenter.js';
import type { ImportJobs } from '../../ops/import-jobs.js';
import type { Metrics } from '../../ops/metrics.js';
import type { CatalogStore, Stores } from '../../store/types.js';

/** What the HTTP routes use of the node. */
export interface HttpDeps {
  config: AttuneConfig;
  host: ActorHost;
  catalog: CatalogIndex;
  catalogStore: CatalogStore;
  /** The log and the recorded pushes, for replay. */
  stores: Pick<Stores, 'log' | 'pushes'>;
  model: ModelSlot;
  trends: ItemTrends;
  segmenter: Segmenter;
  metrics: Metrics;
  /** Bulk imports (POST /v1/import-jobs) running in the background on this node's stores. */
  importJobs: ImportJobs;
  /** Cached lists for keys with no live actor here and for related items; null when caching is off. */
  lists: { recommendations: ListCache; related: ListCache } | null;
  webDir: string;
  now: () => number;
  /** Null when the node can serve; otherwise why not (the stores are unreachable...). */
  notReadyReason: () => string | null;
}
