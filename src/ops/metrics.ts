import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** One registry per server, so several servers can live in one process (tests, benchmarks). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'attune_process_' });
  const metrics = {
    registry,
    recommendationLatency: new Histogram({
      name: 'attune_recommendation_latency_seconds',
      help: 'Time to compute a recommendation list (HTTP GET or socket connect), by route and experiment arm (live, candidate).',
      labelNames: ['route', 'arm'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    putEventsRequests: new Counter({
      name: 'attune_put_events_requests_total',
      help: 'Event submissions, by transport and outcome.',
      labelNames: ['transport', 'outcome'],
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'attune_refusals_total',
      help: 'Requests and socket connections or messages refused for security: no or a bad key or token, a missing role, a rate limit.',
      labelNames: ['transport', 'reason'],
      registers: [registry],
    }),
    eventsAccepted: new Counter({
      name: 'attune_events_accepted_total',
      help: 'Events appended to the log (acknowledged).',
      registers: [registry],
    }),
    forwardedBatches: new Counter({
      name: 'attune_forwarded_batches_total',
      help: 'Event batches of keys owned by another node. role=sender: forwarded (the owner took them), appended-here (no link to the owner, or it was silent lately), not-owner (it had handed the key off), unanswered (no answer in time: the client was told to resend). role=owner: applied, not-owner.',
      labelNames: ['role', 'outcome'] as const,
      registers: [registry],
    }),
    livePairs: new Counter({
      name: 'attune_live_pairs_total',
      help: 'Co-occurrence pair increments added to this node\'s live table (README "Live updates"), by source: local (its own events) or peer (sent by another node).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    liveNewItems: new Gauge({
      name: 'attune_live_new_items',
      help: 'Items the served model does not know that live updates have (from the catalog or from events): what live neighbours and exploration can add to lists.',
      registers: [registry],
    }),
    eventToPush: new Histogram({
      name: 'attune_event_to_push_seconds',
      help: 'From receiving an event to emitting the recommendations it changed, by experiment arm (live, candidate).',
      labelNames: ['arm'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'attune_pushes_total',
      help: 'recommendations messages emitted because a top-N changed, by experiment arm (live, candidate).',
      labelNames: ['arm'],
      registers: [registry],
    }),
    inferenceLatency: new Histogram({
      name: 'attune_inference_latency_seconds',
      help: 'One scoring request, including waiting for its micro-batch.',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    inferenceFallbacks: new Counter({
      name: 'attune_inference_fallbacks_total',
      help: 'Scoring requests answered with popular items instead of the model, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    liveActors: new Gauge({
      name: 'attune_live_actors',
      help: 'Session and user actors in memory on this node.',
      registers: [registry],
    }),
    passivations: new Counter({
      name: 'attune_passivations_total',
      help: 'Actors snapshotted and dropped after being idle.',
      registers: [registry],
    }),
    modelSwaps: new Counter({
      name: 'attune_model_swaps_total',
      help: 'Model bundles hot-swapped in.',
      registers: [registry],
    }),
    experimentArmShare: new Gauge({
      name: 'attune_experiment_arm_share',
      help: 'The share (0..1) of users each experiment arm serves on this node now: live 1 and candidate 0 when no experiment runs or its candidate failed to load.',
      labelNames: ['arm'],
      registers: [registry],
    }),
    experimentCandidateLoadFailures: new Counter({
      name: 'attune_experiment_candidate_load_failures_total',
      help: 'Candidate model bundles this node failed to load for an experiment (everyone gets the live model meanwhile).',
      registers: [registry],
    }),
    modelLoadFailures: new Counter({
      name: 'attune_model_load_failures_total',
      help: 'Attempts to load the model registry\'s live version that failed: the node went on serving the model it had.',
      registers: [registry],
    }),
    modelBehindRegistry: new Gauge({
      name: 'attune_model_behind_registry',
      help: '1 while this node serves another version than the model registry\'s live one (its bundle failed to load), else 0.',
      registers: [registry],
    }),
    modelCreated: new Gauge({
      name: 'attune_model_created_timestamp_seconds',
      help: 'When the model bundle this node serves was trained (its manifest createdAt), by bundle version: its age is time() minus this.',
      labelNames: ['version'],
      registers: [registry],
    }),
    socketConnections: new Gauge({
      name: 'attune_socket_connections',
      help: 'Open socket.io connections on this node.',
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: 'attune_redis_errors_total',
      help: 'Failed Redis store operations, by operation and kind (unavailable: down, slow or disconnected; reply: a command Redis refused).',
      labelNames: ['operation', 'kind'],
      registers: [registry],
    }),
    shardsOwned: new Gauge({
      name: 'attune_shards_owned',
      help: 'Shards this node holds the lease of (every shard in the embedded mode).',
      registers: [registry],
    }),
    shardCount: new Gauge({
      name: 'attune_shard_count',
      help: 'Shards the keys are split into (--shards): the sum of attune_shards_owned over the nodes when every shard has an owner.',
      registers: [registry],
    }),
    cacheLookups: new Counter({
      name: 'attune_cache_lookups_total',
      help: 'Cached-list lookups by cache and outcome: hit_local, hit_shared, stale (served while one refresh runs) or miss.',
      labelNames: ['cache', 'outcome'],
      registers: [registry],
    }),
    cacheRefreshes: new Counter({
      name: 'attune_cache_refreshes_total',
      help: 'Lists computed for a cache (cold loads and background refreshes): the recomputations the cache let through.',
      labelNames: ['cache'],
      registers: [registry],
    }),
    cacheLockWaits: new Counter({
      name: 'attune_cache_lock_waits_total',
      help: 'Loads that waited for another node computing the same list.',
      labelNames: ['cache'],
      registers: [registry],
    }),
    cacheFallbacks: new Counter({
      name: 'attune_cache_fallbacks_total',
      help: 'Lookups answered with the popularity fallback because the list could not be computed and nothing stale was cached, by reason.',
      labelNames: ['cache', 'reason'],
      registers: [registry],
    }),
    importRows: new Counter({
      name: 'attune_import_rows_total',
      help: 'Rows read by import jobs (POST /v1/import-jobs), by kind (interactions, items, users) and outcome (imported, rejected).',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    importJobs: new Counter({
      name: 'attune_import_jobs_total',
      help: 'Import jobs finished on this node, by outcome (succeeded, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    ...onlineCounters(registry),
    retrainRuns: new Counter({
      name: 'attune_retrain_runs_total',
      help: 'Retraining runs finished on this node, by outcome (promoted, refused by the gate, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    retrainLastRun: new Gauge({
      name: 'attune_retrain_last_run_timestamp_seconds',
      help: 'When the latest retraining run on this node finished (epoch seconds), whatever its outcome.',
      registers: [registry],
    }),
  };
  // Exposed at 0 from the start: Prometheus's increase() cannot see a series' first increment, so
  // without this a node's first failed import job would raise no alert (ops/prometheus/alerts.yml).
  for (const outcome of ['succeeded', 'failed']) metrics.importJobs.inc({ outcome }, 0);
  for (const outcome of RETRAIN_OUTCOMES) metrics.retrainRuns.inc({ outcome }, 0);
  metrics.experimentCandidateLoadFailures.inc(0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Online metrics (src/ops/online-metrics.ts): what the lists served by this node showed and earned. */
function onlineCounters(registry: Registry) {
  const labelNames = ['model_version', 'recipe', 'arm'] as const;
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [registry] });
  return {
    onlineLists: counter('attune_online_lists_total', 'Lists served (pushed, sent on connect, answered over HTTP) to a visitor who tracks, by model version, recipe and experiment arm.'),
    onlineImpressions: counter('attune_online_impressions_total', 'Items shown in those lists.'),
    onlineClicks: counter('attune_online_clicks_total', 'Items of a list clicked or viewed after it was shown (once per list and item), attributed to that list.'),
    onlineAddToCarts: counter('attune_online_add_to_carts_total', 'Items of a list added to the cart after it was shown (once per list and item).'),
    onlinePurchases: counter('attune_online_purchases_total', 'Items of a list bought after it was shown (once per list and item).'),
    onlineRevenue: counter('attune_online_revenue_total', 'Sum of the eventValue of the purchases attributed to a list.'),
    onlineUnattributed: new Counter({
      name: 'attune_online_unattributed_total',
      help: 'Clicks, add-to-carts and purchases credited to no list, by engagement and reason: unknown-id (a recommendationId this node did not serve), no-list, outside-window (--attribution-window-ms), not-in-list.',
      labelNames: ['engagement', 'reason'] as const,
      registers: [registry],
    }),
  };
}
/** How a retraining run ends (src/ops/retrain-jobs.ts). */
export const RETRAIN_OUTCOMES = ['promoted', 'refused', 'failed'] as const;
export type RetrainRunOutcome = (typeof RETRAIN_OUTCOMES)[number];

/** Publishes the served bundle's creation time, replacing the previous bundle's series (after a start or a swap). */
export function recordServedModel(metrics: Metrics, manifest: { version: string; createdAt: string }): void {
  metrics.modelCreated.reset();
  const created = Date.parse(manifest.createdAt);
  // A createdAt that is no date leaves the series absent rather than claim an age.
  if (!Number.isNaN(created)) metrics.modelCreated.set({ version: manifest.version }, created / 1000);
}
