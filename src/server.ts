import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { ShardOwnership } from './actors/shard-ownership.js';
import { createRedisStores, type RedisConnectionOptions, type RedisStores } from './store/redis/index.js';
import { ListCache } from './cache/list-cache.js';
import { RedisSharedLayer } from './cache/redis-shared-layer.js';
import { MemorySharedLayer, type SharedLayer } from './cache/shared-layer.js';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ActorHost } from './actors/actor-host.js';
import { ConfigError, type AttuneConfig } from './config.js';
import { EVENTS_PER_PUT_MAX } from './session/event-schema.js';
import { demoCatalog } from './demo/catalog.js';
import { CatalogIndex } from './model/catalog.js';
import { CatalogSync } from './model/catalog-sync.js';
import { ensureDemoModel } from './training/demo-model.js';
import { ItemTrends } from './model/item-trends.js';
import { ModelSlot } from './model/model-slot.js';
import { Segmenter } from './model/segmenter.js';
import { eventWeight } from './session/state.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { ImportJobs } from './ops/import-jobs.js';
import { createMemoryStores } from './store/memory.js';
import type { Stores } from './store/types.js';
import { actorOf } from './transport/auth.js';
import { createHttpApp } from './transport/http.js';
import type { AuditRecorder } from './transport/routes/deps.js';
import { ConsentGate } from './privacy/consent-gate.js';
import { Pseudonyms } from './privacy/pseudonyms.js';
import { UserErasure } from './privacy/user-erasure.js';
import { ApiKeyAuthenticator } from './security/api-keys.js';
import { createPayloadCipher } from './store/payload-cipher.js';
import { resolveSecrets } from './security/secrets.js';
import { awsCredentialsOfKey } from './security/aws-credentials.js';
import { keyIdOfAccessKey, verifySigV4 as verifyRequestSignature, type SigV4FailureReason } from './security/sigv4.js';
import type { AuthenticationResult } from './security/api-keys.js';
import { RateLimiter } from './security/token-bucket.js';
import { createSocketServer, type AttuneSocketServer } from './transport/socket.js';
import { createServing } from './serving/index.js';

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
  nodeId: string;
  /** Null in the embedded mode, where this node owns every shard. */
  ownership: ShardOwnership | null;
  /** The key with every role this node accepts (configured, or generated in development mode). */
  masterKey: string | null;
  pseudonyms: Pseudonyms;
  erasure: UserErasure;
  close(): Promise<void>;
}

/** The access key id in a SigV4 Authorization header. */
const SIGV4_CREDENTIAL = /Credential=([A-Z0-9]{1,64})\//;

/** A failed signature check, as an authentication refusal's reason. */
const SIGV4_REFUSALS: Readonly<Record<SigV4FailureReason, 'missing' | 'malformed' | 'unknown' | 'bad-signature' | 'expired'>> = {
  missing: 'missing',
  malformed: 'malformed',
  'wrong-service': 'malformed',
  'unknown-key': 'unknown',
  'bad-signature': 'bad-signature',
  expired: 'expired',
};

/** Inference runs failing in a row before /readyz reports the node not ready. */
const MODEL_FAILURES_NOT_READY = 5;

/** The web/ folder, both from src/ (tests) and from dist/src/ (built). */
function findWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'src')}`) ? join(here, '..', '..', 'web') : join(here, '..', 'web');
}

/** Wires stores, model, actors, HTTP and sockets of one node, and starts listening. */
export async function startServer(config: AttuneConfig, options: { stores?: Stores; cacheLayer?: SharedLayer } = {}): Promise<RunningServer> {
  const secrets = resolveSecrets(config, options.stores?.sharedByNodes ?? usesRedis(config));
  const metrics = createMetrics();
  const countRedisFailure = (operation: string, kind: 'unavailable' | 'reply'): void => metrics.redisErrors.inc({ operation, kind });
  const redisStores = options.stores === undefined && usesRedis(config) ? await openRedisStores(config, countRedisFailure) : null;
  const stores = options.stores ?? redisStores ?? createMemoryStores({ shardCount: config.cluster.shardCount });
  const nodeId = config.cluster.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (config.demoCatalog) await seedDemoCatalog(stores);
  const catalog = new CatalogIndex();
  let reportError: (err: unknown, context: string) => void = (err, context) => console.error(`attune: ${context}:`, err);
  // Item updates made through other nodes reach this node's filters through the store's change log.
  const catalogSync = await CatalogSync.load({
    store: stores.catalog,
    index: catalog,
    pollMs: config.cache.catalogPollMs,
    onStockChanged: (itemIds) => host.onStockChanged(itemIds),
    onError: (err, context) => reportError(err, context),
  });

  const log = (message: string): void => {
    if (config.logLevel !== 'silent' && config.logLevel !== 'error' && config.logLevel !== 'warn') console.log(`attune: ${message}`);
  };
  const modelDir = config.modelDir ?? (await ensureDemoModel(config.dataDir, log));
  const model = await ModelSlot.load(modelDir, config.scoring, config.reducer);

  const trends = new ItemTrends(config.trends.popularHalfLifeMs, config.trends.trendingHalfLifeMs);
  let io: AttuneSocketServer | null = null;
  let reportOwnership: (change: Record<string, unknown>) => void = () => {};
  // Stores shared with other nodes: this node acts only for the shards it leases.
  const mailboxes = new Map<number, () => Promise<void>>();
  const ownership = stores.sharedByNodes
    ? new ShardOwnership({
        leases: stores.leases,
        nodeId,
        shardCount: stores.shardCount,
        leaseTtlMs: config.cluster.leaseTtlMs,
        onGained: async (shard, fence) => {
          // Logged before anything is applied under the lease, so the log's ownership intervals are conservative.
          reportOwnership({ event: 'shard-gained', nodeId, shard, epoch: fence.epoch });
          metrics.shardsOwned.inc();
          host.adoptShard(shard);
          mailboxes.set(shard, await stores.mailbox.subscribe(shard, (key) => void host.onWake(key).catch((err: unknown) => reportError(err, `wake ${key}`))));
        },
        onLost: async (shard, reason, fence) => {
          await mailboxes.get(shard)?.();
          mailboxes.delete(shard);
          metrics.shardsOwned.dec();
          await host.dropShard(shard, reason !== 'lease-lost');
          reportOwnership({ event: 'shard-lost', nodeId, shard, epoch: fence.epoch, reason });
        },
        onError: (err, context) => reportError(err, context),
      })
    : null;
  const host = new ActorHost({
    ...(ownership === null ? {} : { ownership }),
    config,
    stores,
    catalog,
    model: () => model.get(),
    metrics,
    publish: (room, push) => io?.to(room).emit('recommendations', push),
    onError: (err, context) => reportError(err, context),
    onAccepted: (entry, reducer) => trends.record(entry, eventWeight(entry.eventType, reducer)),
  });
  const pseudonyms = new Pseudonyms(secrets.pseudonymKey);
  const consent = new ConsentGate(stores.consent);
  const authenticator = new ApiKeyAuthenticator({ store: stores.apiKeys, masterKey: secrets.masterKey, cacheMs: config.security.keyCacheMs });
  const segmenter = new Segmenter({
    userKeys: () => stores.log.keys('u:'),
    stateOf: (key) => host.currentState(key),
    catalog,
    segmentCount: config.segments.count,
    refreshMs: config.segments.refreshMs,
  });

  // The cache's shared layer: Redis (own connections) when the stores are, else this process's memory.
  const cacheLayer = options.cacheLayer ?? (usesRedis(config) ? await RedisSharedLayer.open({ ...redisConnectionOptions(config), onFailure: countRedisFailure }) : new MemorySharedLayer());
  const lists = config.cache.enabled
    ? {
        recommendations: new ListCache('recommendations', cacheLayer, config.cache, metrics, catalog, (err, context) => reportError(err, context)),
        related: new ListCache('related', cacheLayer, config.cache, metrics, catalog, (err, context) => reportError(err, context)),
      }
    : null;
  for (const cache of Object.values(lists ?? {})) await cache.listen();

  // Imported history goes to the log and the popular/trending counts, never to sockets.
  const importJobs = new ImportJobs({
    stores,
    categoryOf: (itemId) => catalog.get(itemId)?.category,
    appendKey: (key, entries) => host.appendHistory(key, entries),
    onItems: (stored) => {
      const stockChanged = catalog.apply(stored);
      if (stockChanged.length > 0) host.onStockChanged(stockChanged);
    },
    root: config.importDir,
    userIdAtRest: (userId) => pseudonyms.user(userId),
    optedOut: (userId) => consent.optedOut(userId),
    onInteraction: (entry) => trends.record(entry, eventWeight(entry.eventType, model.get().reducer)),
    counters: {
      rows: (kind, outcome, count) => metrics.importRows.inc({ kind, outcome }, count),
      job: (outcome) => metrics.importJobs.inc({ outcome }),
    },
    onError: (err, context) => reportError(err, context),
  });

  const erasure = new UserErasure({
    stores,
    graceMs: config.security.deletionGraceMs,
    forgetCached: async (keys) => {
      for (const cache of Object.values(lists ?? {})) for (const key of keys) await cache.invalidate(`${key}|`);
    },
    onError: (err, context) => reportError(err, context),
  });
  const audit: AuditRecorder = async (request, entry) => {
    try {
      await stores.audit.record({ at: Date.now(), actor: actorOf(request), requestId: request.id, ...entry });
    } catch (err) {
      request.log.error({ err, audit: entry }, 'audit entry not recorded');
    }
  };
  // What other nodes (and this one) announce: erasures, consent changes, revoked keys.
  const unsubscribeBus = await stores.bus.subscribe((message) => {
    if (message.type === 'forget') for (const key of message.keys) void host.forget(key).catch((err: unknown) => reportError(err, `forget ${key}`));
    else if (message.type === 'consent') consent.update(message.userId, message.optedOut);
    else authenticator.forget(message.keyId);
  });
  const keyLimiter = new RateLimiter({ perSecond: config.security.rateKeyPerS, burst: config.security.rateKeyBurst });
  // A put of the most events allowed must fit the bucket, or it could never pass.
  if (config.security.rateSessionBurst < EVENTS_PER_PUT_MAX) throw new ConfigError(`the session rate burst must be at least ${EVENTS_PER_PUT_MAX} (one full put), got ${config.security.rateSessionBurst}`);
  const sessionLimiter = new RateLimiter({ perSecond: config.security.rateSessionPerS, burst: config.security.rateSessionBurst });

  // AWS Signature V4: the access key id names an API key; its secret is derived (src/security/aws-credentials.ts).
  const { sigv4Root } = secrets;
  const signer = async (request: FastifyRequest): Promise<AuthenticationResult> => {
    if (sigv4Root === null) return { ok: false, reason: 'unknown' };
    const keyId = keyIdOfAccessKey(SIGV4_CREDENTIAL.exec(String(request.headers.authorization))?.[1] ?? '');
    return keyId === null ? { ok: false, reason: 'unknown' } : authenticator.principalOf(keyId);
  };
  const verifySigV4 = async (request: FastifyRequest): Promise<AuthenticationResult> => {
    if (sigv4Root === null) return { ok: false, reason: 'unknown' };
    const [rawPath, rawQuery = ''] = request.raw.url?.split(/\?(.*)/s) ?? [''];
    const verified = await verifyRequestSignature(
      { method: request.method, rawPath, rawQuery, headers: request.headers, body: request.rawBody ?? Buffer.alloc(0) },
      {
        service: 'personalize',
        nowMs: Date.now(),
        secretFor: async (accessKeyId) => {
          const record = await authenticator.recordOf(keyIdOfAccessKey(accessKeyId) ?? '');
          return record === null || record.revokedAt !== null ? null : awsCredentialsOfKey(record, sigv4Root).secretAccessKey;
        },
      },
    );
    if (!verified.ok) return { ok: false, reason: SIGV4_REFUSALS[verified.reason] };
    // The signature proves the secret; whether the key is still valid, and its roles, are the record's.
    return authenticator.principalOf(keyIdOfAccessKey(verified.accessKeyId) ?? '');
  };

  const serving = createServing({ host, consent, catalog, scorer: () => model.scorer, lists, sessionLimiter, metrics });
  const app = createHttpApp({
    config,
    signer,
    verifySigV4,
    awsCredentialsOf: (record) => (sigv4Root === null ? null : awsCredentialsOfKey(record, sigv4Root)),
    authenticator,
    keyLimiter,
    ingest: serving.ingest,
    recommendations: serving.recommendations,
    pseudonyms,
    consent,
    erasure,
    tokenSecret: secrets.tokenSecret,
    audit,
    host,
    catalog,
    catalogStore: stores.catalog,
    stores,
    model,
    trends,
    segmenter,
    metrics,
    importJobs,
    lists,
    webDir: findWebDir(),
    now: Date.now,
    notReadyReason: () => {
      if (ownership !== null && !ownership.connected()) return 'this node has not reached the lease store within a lease TTL';
      const failed = model.scorer.stats.failedInARow;
      // Lists still go out (popular items), but another node would serve better ones.
      if (failed >= MODEL_FAILURES_NOT_READY) return `the model failed or ran late on its last ${failed} runs (serving popular items)`;
      return null;
    },
  });
  reportError = (err, context) => app.log.error({ err }, context);
  // One JSON line per ownership change (pino's `time` is epoch ms): handoffs and failovers can be audited.
  reportOwnership = (change) => app.log.info(change, String(change.event));
  const adapterClients = redisStores === null ? null : await Promise.all([redisStores.duplicateClient(false), redisStores.duplicateClient(true)]);
  io = createSocketServer(app.server, {
    host,
    tokenSecret: secrets.tokenSecret,
    acceptBareSessions: config.security.dev,
    pseudonyms,
    consent,
    ingest: serving.ingest,
    sessionLimits: serving.sessionLimits,
    now: Date.now,
    metrics,
    onError: (err, context) => reportError(err, context),
    ...(adapterClients === null ? {} : { adapter: createShardedAdapter(adapterClients[0], adapterClients[1]) }),
  });

  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const scheme = config.security.tlsCert === null ? 'http' : 'https';
  const url = `${scheme}://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`;
  metrics.shardsOwned.set(ownership === null ? stores.shardCount : 0);
  ownership?.start();
  if (stores.sharedByNodes) catalogSync.start();
  log(`serving ${catalog.size} items with model ${model.manifest.version} on ${url}`);
  // Printed whatever the log level: the generated key is the only way in.
  for (const notice of secrets.notices) console.log(`attune: ${notice}`);

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    app,
    io,
    host,
    stores,
    catalog,
    metrics,
    model,
    nodeId,
    ownership,
    masterKey: secrets.masterKey,
    pseudonyms,
    erasure,
    close: () =>
      (closing ??= (async () => {
        // Hand the shards off first (fenced snapshots, released leases) so others take over at once.
        await importJobs.close();
        await erasure.settle();
        await unsubscribeBus();
        await ownership?.stop();
        await catalogSync.stop();
        io?.close();
        await app.close();
        await host.stop();
        await model.close();
        for (const cache of Object.values(lists ?? {})) await cache.close();
        if (options.cacheLayer === undefined) await cacheLayer.close();
        for (const client of adapterClients ?? []) client.disconnect();
        await stores.close();
      })()),
  };
}

/** Adds the demo items the catalog lacks; items already there (maybe updated since) stay as they are. */
async function seedDemoCatalog(stores: Stores): Promise<void> {
  const demo = demoCatalog();
  const present = new Set((await stores.catalog.get(demo.map((item) => item.itemId))).map((item) => item.itemId));
  const missing = demo.filter((item) => !present.has(item.itemId));
  if (missing.length > 0) await stores.catalog.upsert(missing);
}

function usesRedis(config: AttuneConfig): boolean {
  return config.redis.url !== null || config.redis.cluster.length > 0;
}

function redisConnectionOptions(config: AttuneConfig): RedisConnectionOptions {
  // A CA for a plain redis:// URL would send the password in clear while looking secured.
  if (config.redis.tlsCa !== null && config.redis.url?.startsWith('redis://') === true) throw new ConfigError('--redis-tls-ca needs a rediss:// URL (TLS); the URL given is redis://');
  return {
    ...(config.redis.cluster.length > 0 ? { cluster: [...config.redis.cluster] } : { url: config.redis.url ?? undefined }),
    ...(config.redis.password === null ? {} : { password: config.redis.password }),
    // Cluster seeds carry no rediss:// to say so: a CA means TLS.
    ...(config.redis.tlsCa === null ? {} : { tlsCa: readFileSync(config.redis.tlsCa, 'utf8'), ...(config.redis.cluster.length > 0 ? { tls: true } : {}) }),
  };
}

function openRedisStores(config: AttuneConfig, onFailure: RedisConnectionOptions['onFailure']): Promise<RedisStores> {
  if (config.security.encryptionRequired && config.security.encryptionKeys.length === 0) throw new ConfigError('--encryption-required needs --encryption-keys');
  const cipher = config.security.encryptionKeys.length === 0 ? null : createPayloadCipher(config.security.encryptionKeys, { requireSealed: config.security.encryptionRequired });
  return createRedisStores({
    ...redisConnectionOptions(config),
    ...(onFailure === undefined ? {} : { onFailure }),
    ...(cipher === null ? {} : { cipher }),
    shardCount: config.cluster.shardCount,
  });
}
