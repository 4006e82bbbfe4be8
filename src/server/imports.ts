import type { ActorHost } from '../actors/actor-host.js';
import { importDirOf, type AttuneConfig } from '../config.js';
import type { Metrics } from '../ops/metrics.js';
import { ImportJobs } from '../ops/import-jobs.js';
import type { ConsentGate } from '../privacy/consent-gate.js';
import type { Pseudonyms } from '../privacy/pseudonyms.js';
import { eventWeight } from '../session/state.js';
import type { Stores } from '../store/types.js';
import type { ModelPart } from './model.js';

export interface ImportDeps extends ModelPart {
  config: AttuneConfig;
  stores: Stores;
  host: ActorHost;
  pseudonyms: Pseudonyms;
  consent: ConsentGate;
  metrics: Metrics;
  onError: (err: unknown, context: string) => void;
}

/** Bulk imports: history goes to the log and the popular/trending counts, never to sockets; items to the catalog index. */
export function createImportJobs(deps: ImportDeps): ImportJobs {
  const { catalog, host, metrics, model } = deps;
  return new ImportJobs({
    stores: deps.stores,
    categoryOf: (itemId) => catalog.get(itemId)?.category,
    appendKey: (key, entries) => host.appendHistory(key, entries),
    onItems: (stored) => {
      const stockChanged = catalog.apply(stored);
      if (stockChanged.length > 0) host.onStockChanged(stockChanged);
    },
    root: importDirOf(deps.config),
    userIdAtRest: (userId) => deps.pseudonyms.user(userId),
    optedOut: (userId) => deps.consent.optedOut(userId),
    onInteraction: (entry) => deps.trends.record(entry, eventWeight(entry.eventType, model.get().reducer)),
    counters: {
      rows: (kind, outcome, count) => metrics.importRows.inc({ kind, outcome }, count),
      job: (outcome) => metrics.importJobs.inc({ outcome }),
    },
    onError: deps.onError,
  });
}
