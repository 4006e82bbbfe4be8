import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ActorHost } from '../actors/actor-host.js';
import type { SharedLayer } from '../cache/shared-layer.js';
import type { AttuneConfig } from '../config.js';
import { CatalogIndex } from '../model/catalog.js';
import { CatalogSync } from '../model/catalog-sync.js';
import type { ModelArms } from '../model/model-arms.js';
import { ModelSlot } from '../model/model-slot.js';
import { Segmenter } from '../model/segmenter.js';
import { createNodeLogger } from '../ops/log.js';
import { createServing, strangerToCatalog } from '../serving/index.js';
import { createMetrics, recordServedModel, type Metrics } from '../ops/metrics.js';
import { LIVE_ARM } from '../ops/attribution.js';
import { OnlineMetrics } from '../ops/online-metrics.js';
import { RetrainJobs } from '../ops/retrain-jobs.js';
import type { Pseudonyms } from '../privacy/pseudonyms.js';
import type { UserErasure } from '../privacy/user-erasure.js';
import { resolveSecrets } from '../security/secrets.js';
import { eventWeight } from '../session/state.js';
import type { Stores } from '../store/types.js';
import { PeerForwarder } from '../transport/peers.js';
import type { AttuneSocketServer } from '../transport/socket.js';
import { createClusterPart, type ClusterPart } from './cluster.js';
import { createImportJobs } from './imports.js';
import { createLivePart } from './live.js';
import { openListCaches } from './lists.js';
import { followNodeBus } from './node-bus.js';
import { followCandidates, followModelRegistry, loadModelPart } from './model.js';
import { createPrivacyPart } from './privacy.js';
import { createSecurityPart } from './security.js';
import { openStorage, usesRedis } from './stores.js';
import { serveTransport } from './transport.js';

export interface RunningServer {
  url: string;
  port: number;
  app: FastifyInstance;
  io: AttuneSocketServer;
  host: ActorHost;
  stores: Stores;
  catalog: CatalogIndex;
  metrics: Metrics;
  model: ModelSlot;
  /** Retraining from the log: this node's runs, and whether it is the elected scheduler. */
  retrain: RetrainJobs;
  /** The models by experiment arm: `model` for everyone, and a candidate for a share of the keys during an experiment. */
  arms: ModelArms;
  nodeId: string;
  /** The shards this node leases; null in the embedded mode, where this node owns every shard. */
  ownership: Pick<ClusterPart, 'ownedShards'> | null;
  /** The key with every role this node accepts (configured, or generated in development mode). */
  masterKey: string | null;
  pseudonyms: Pseudonyms;
  erasure: UserErasure;
  /**
   * The first half of close() (SIGTERM): /readyz answers 503 and new sockets are refused at once,
   * so traffic moves to other nodes, while the sockets already here are still served; background
   * jobs settle and the shards are handed off (fenced snapshots, released leases, the others told).
   */
  drain(): Promise<void>;
  /** Drains, then ends: answers the socket messages in flight, disconnects the sockets, closes the stores. */
  close(): Promise<void>;
}

/** Inference runs failing in a row before /readyz reports the node not ready. */
const MODEL_FAILURES_NOT_READY = 5;

/**
 * Wires one node from its parts (storage, cluster, model, privacy, security, transport) and
 * starts listening.
 */
export async function startServer(config: AttuneConfig, options: { stores?: Stores; cacheLayer?: SharedLayer } = {}): Promise<RunningServer> {
  const logger = createNodeLogger(config.logLevel);
  const reportError = (err: unknown, context: string): void => logger?.error({ err }, context);
  const log = (message: string): void => {
    if (config.logLevel !== 'silent' && config.logLevel !== 'error' && config.logLevel !== 'warn') console.log(`attune: ${message}`);
  };
  const secrets = resolveSecrets(config, options.stores?.sharedByNodes ?? usesRedis(config));
  const metrics = createMetrics();
  const storage = await openStorage(config, metrics, reportError, options);
  const { stores } = storage;
  const nodeId = config.cluster.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const { catalog, model, arms, trends } = await loadModelPart(config, stores, metrics, log);
  recordServedModel(metrics, model.manifest);
  // Before anything serves: the node starts on the registry's live version where there is one.
  const registry = await followModelRegistry(config, stores, model, metrics, logger, reportError);
  const candidates = await followCandidates(config, stores, arms, logger, reportError);
  metrics.shardCount.set(stores.shardCount);
  const cluster = await createClusterPart({
    config,
    stores,
    redis: storage.redis,
    nodeId,
    metrics,
    // One JSON line per ownership change at debug (pino's `time` is epoch ms), a summary per burst at info.
    logOwnership: (change, level) => logger?.[level](change, String(change.event)),
    onError: reportError,
  });
  const peerSecret = cluster.shared ? await stores.peers.secret() : null;
  const forwarder =
    peerSecret === null
      ? null
      : new PeerForwarder({ nodeId, assignedNode: (key) => cluster.assignedNode(key), directory: stores.peers, secret: peerSecret, timeoutMs: config.cluster.forwardTimeoutMs, metrics, onError: reportError });
  const online = new OnlineMetrics({
    store: stores.onlineMetrics,
    metrics,
    windowMs: config.online.attributionWindowMs,
    flushMs: config.online.flushMs,
    maxLists: config.online.maxLists,
    // A list's model version names its arm: the candidate's version is served to the candidate arm only.
    armOf: ({ modelVersion }) => (modelVersion === arms.candidateVersion ? 'candidate' : LIVE_ARM),
    purchaseEventType: () => model.get().reducer.purchaseEventType,
    onError: reportError,
  });
  // Created before the catalog is loaded, so the content index sees every item.
  const live = await createLivePart(config, { catalog, bus: stores.bus, shared: cluster.shared, nodeId, metrics, onError: reportError });
  const retrain = new RetrainJobs({
    config: config.retrain,
    nodeId,
    stores,
    modelsDir: join(config.dataDir, 'models'),
    served: () => ({ dir: model.dir, version: model.manifest.version }),
    // The run announced the promotion on the bus (every node's follower swaps); this node swaps before the run ends.
    serve: () => registry.follower.sync(),
    reducerDefaults: config.reducer,
    metrics,
    leaseTtlMs: config.cluster.leaseTtlMs,
    log,
    onError: reportError,
  });
  const host = new ActorHost({
    ...(forwarder === null ? {} : { forwardToOwner: forwarder.forward }),
    placement: cluster.placement,
    config,
    stores,
    catalog,
    model: (key) => {
      return live.serving(arms.modelFor(key), arms.scorerFor(key).scorer);
    },
    metrics,
    onError: reportError,
    onAccepted: (entry, reducer) => {
      trends.record(entry, eventWeight(entry.eventType, reducer));
      live.onAccepted(entry);
      retrain.noteEvents(1);
    },
  });
  // Item updates made through other nodes reach this node's filters through the store's change log.
  const catalogSync = await CatalogSync.load({
    store: stores.catalog,
    index: catalog,
    pollMs: config.cache.catalogPollMs,
    onStockChanged: (itemIds) => host.onStockChanged(itemIds),
    onError: reportError,
  });
  if (strangerToCatalog(model.scorer.itemIds, catalog) && config.logLevel !== 'silent') {
    console.warn(`attune: warning: the model ${model.manifest.version} knows none of the catalog's ${catalog.size} items: its lists will name items the catalog lacks (load the model's catalog, or serve a model trained on this one)`);
  }
  const segmenter = new Segmenter({
    userKeys: () => stores.log.keys('u:'),
    stateOf: (key) => host.currentState(key),
    catalog,
    segmentCount: config.segments.count,
    refreshMs: config.segments.refreshMs,
  });
  const caches = await openListCaches(config, storage.cacheLayer, metrics, catalog, reportError);
  const { lists } = caches;
  const { pseudonyms, consent, erasure } = createPrivacyPart({ config, pseudonymKey: secrets.pseudonymKey, stores, forgetCached: caches.forget, onError: reportError });
  const security = createSecurityPart(config, secrets, stores);
  const importJobs = createImportJobs({ config, stores, catalog, model, arms, trends, host, pseudonyms, consent, metrics, onError: reportError });
  const unsubscribeBus = await followNodeBus(stores.bus, { host, consent, authenticator: security.authenticator, nodeId, rebalanceNow: () => cluster.rebalanceNow(), onError: reportError });
  const serving = createServing({
    host,
    consent,
    catalog,
    modelFor: (key) => {
      const { scorer, arm } = arms.scorerFor(key);
      return { scorer: live.scorer(scorer), arm };
    },
    lists,
    sessionLimiter: security.sessionLimiter,
    metrics,
    onShown: (shown) => online.listShown(shown),
    onEventsAccepted: (entries) => online.eventsAccepted(entries),
  });
  /** Started by drain() (SIGTERM: see close()); while set, readiness fails and new sockets are refused. */
  let drained: Promise<void> | null = null;
  const transport = await serveTransport(
    config,
    {
      authenticator: security.authenticator,
      keyLimiter: security.keyLimiter,
      signer: security.signer,
      verifySigV4: security.verifySigV4,
      awsCredentialsOf: security.awsCredentialsOf,
      audit: security.audit,
      ingest: serving.ingest,
      recommendations: serving.recommendations,
      config,
      logger,
      pseudonyms,
      consent,
      erasure,
      tokenSecret: secrets.tokenSecret,
      host,
      catalog,
      catalogStore: stores.catalog,
      stores,
      model,
      arms,
      modelAdmin: registry.admin,
      modelFollower: registry.follower,
      trends,
      segmenter,
      metrics,
      onlineMetrics: online,
      importJobs,
      retrain,
      lists,
      now: Date.now,
      notReadyReason: () => {
        if (drained !== null) return 'this node is shutting down (draining)';
        const clusterProblem = cluster.notReadyReason();
        if (clusterProblem !== null) return clusterProblem;
        const failed = model.scorer.stats.failedInARow;
        // Lists still go out (popular items), but another node would serve better ones.
        if (failed >= MODEL_FAILURES_NOT_READY) return `the model failed or ran late on its last ${failed} runs (serving popular items)`;
        return null;
      },
    },
    {
      host,
      tokenSecret: secrets.tokenSecret,
      acceptBareSessions: config.security.dev,
      pseudonyms,
      consent,
      ingest: serving.ingest,
      sessionLimits: serving.sessionLimits,
      draining: () => drained !== null,
      now: Date.now,
      metrics,
      onListed: (viewer, push) => online.listShown({ ...viewer, recipe: 'push', list: push }),
      onError: reportError,
      ...(cluster.socketAdapter === null ? {} : { adapter: cluster.socketAdapter }),
    },
    peerSecret === null ? null : { secret: peerSecret },
  );
  if (cluster.shared) await stores.peers.announce(nodeId, config.cluster.peerUrl ?? transport.url);
  cluster.start({ adopt: (shard) => host.adoptShard(shard), drop: (shard, flush) => host.dropShard(shard, flush), wake: (key) => host.onWake(key) });
  if (cluster.shared) catalogSync.start();
  online.start();
  await retrain.start();
  log(`serving ${catalog.size} items with model ${model.manifest.version} on ${transport.url}`);
  // Printed whatever the log level: the generated key is the only way in.
  for (const notice of secrets.notices) console.log(`attune: ${notice}`);

  let closing: Promise<void> | null = null;
  const drain = (): Promise<void> =>
    (drained ??= (async () => {
      await registry.follower.stop();
      await candidates?.stop();
      await importJobs.close();
      await retrain.stop();
      await erasure.settle();
      await unsubscribeBus();
      await cluster.stop();
      if (cluster.shared) await stores.peers.withdraw(nodeId).catch((err: unknown) => reportError(err, 'withdraw the peer URL'));
    })());
  return {
    url: transport.url,
    port: transport.port,
    app: transport.app,
    io: transport.io,
    host,
    stores,
    catalog,
    metrics,
    model,
    retrain,
    arms,
    nodeId,
    ownership: cluster.shared ? cluster : null,
    masterKey: secrets.masterKey,
    pseudonyms,
    erasure,
    drain,
    close: () =>
      (closing ??= (async () => {
        await drain();
        await catalogSync.stop();
        await live.close();
        // Only now are the sockets closed: their clients reconnect to nodes that already own the shards.
        await transport.close();
        forwarder?.close();
        await host.stop();
        await online.close().catch((err: unknown) => reportError(err, 'flush online metrics'));
        await arms.close();
        await model.close();
        await caches.close();
        await cluster.close();
        await storage.close();
      })()),
  };
}
