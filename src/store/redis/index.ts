import { CachedIdentityStore } from '../cached-identities.js';
import { Cluster } from 'ioredis';
import type { PayloadCipher } from '../payload-cipher.js';
import type { Stores } from '../types.js';
import { RedisApiKeyStore } from './api-keys.js';
import { RedisAuditLog } from './audit.js';
import { RedisNodeBus } from './bus.js';
import { RedisCatalogStore } from './catalog.js';
import { RedisConnection, type RedisClient, type RedisConnectionOptions } from './connection.js';
import { RedisConsentStore } from './consent.js';
import { RedisDeletionJobStore } from './deletion-jobs.js';
import { RedisEventLog } from './event-log.js';
import { RedisFilterStore } from './filters.js';
import { RedisIdentityStore } from './identities.js';
import { RedisKeyspace } from './keyspace.js';
import { RedisLeaseStore } from './leases.js';
import { RedisShardMailbox } from './mailbox.js';
import { RedisModelRegistry } from './models.js';
import { RedisPushLog } from './pushes.js';
import { RedisPeerDirectory } from './peers.js';
import { RedisUserStore } from './users.js';
import { RedisSnapshotStore } from './snapshots.js';

export { parseRedisUrl, parseSeed, redactUrl, type RedisConnectionOptions, type RedisEndpoint } from './connection.js';
export { RedisKeyspace } from './keyspace.js';
export { parseBusMessage } from './bus.js';
export {
  RedisApiKeyStore,
  RedisAuditLog,
  RedisCatalogStore,
  RedisConsentStore,
  RedisDeletionJobStore,
  RedisEventLog,
  RedisFilterStore,
  RedisIdentityStore,
  RedisLeaseStore,
  RedisModelRegistry,
  RedisNodeBus,
  RedisSnapshotStore,
};

export interface RedisStoresOptions extends RedisConnectionOptions {
  /** Namespaces every key, so deployments can share a Redis. Default `attune`. */
  keyPrefix?: string;
  /** Fixed for the life of the data: it decides which slot every key lives in. */
  shardCount: number;
  /**
   * Encryption at rest: seals log entries (`e`), snapshot bytes and pushes (`p`) on write and
   * opens them on read; payloads written without one stay readable. None: stored as plain msgpack.
   */
  cipher?: PayloadCipher;
  /** Each node's copy of session links (src/store/cached-identities.ts); default 100,000 sessions for 30 s. */
  identityCache?: { max: number; ttlMs: number };
  /** Background failures (a bus subscription that could not be made). */
  onError?: (err: unknown, context: string) => void;
}

/**
 * Connects (rejecting with StoreUnavailableError when Redis cannot be reached within the
 * connect timeout) and returns every store over one client. Store operations reject with
 * StoreUnavailableError when Redis is down or slow, within the command timeout, and work again
 * once the client has reconnected by itself.
 */
export interface RedisStores extends Stores {
  /** Another connection with the same settings, e.g. for socket.io's adapter; the caller closes it. */
  duplicateClient(forSubscribing: boolean): Promise<RedisClient>;
}

export async function createRedisStores(options: RedisStoresOptions): Promise<RedisStores> {
  const keyspace = new RedisKeyspace(options.keyPrefix ?? 'attune', options.shardCount);
  const redis = await RedisConnection.open(options);
  const client = redis.client;
  const duplicateClient = async (forSubscribing: boolean): Promise<RedisClient> => {
    // A cluster routes SSUBSCRIBE by slot only with sharded subscribers (one per master).
    // Subscriptions wait out a reconnect in the queue (and are restored after it) rather than fail.
    const copy = client instanceof Cluster ? client.duplicate(undefined, { shardedSubscribers: forSubscribing }) : client.duplicate({ enableOfflineQueue: forSubscribing });
    // It reconnects by itself; without a listener ioredis prints every failed attempt.
    copy.on('error', () => {});
    await copy.connect();
    return copy;
  };
  const subscriber = await duplicateClient(true);
  const mailbox = new RedisShardMailbox(redis.client, subscriber, keyspace);
  // The bus's classic SUBSCRIBE needs no sharded subscribers on a cluster: one plain subscriber connection.
  const bus = new RedisNodeBus(redis, keyspace, async () => {
    const copy = client instanceof Cluster ? client.duplicate(undefined, { shardedSubscribers: false }) : client.duplicate({ enableOfflineQueue: true });
    copy.on('error', () => {});
    try {
      await copy.connect();
    } catch (err) {
      copy.disconnect();
      throw err;
    }
    return copy;
  });
  const cipher = options.cipher ?? null;
  return {
    log: new RedisEventLog(redis, keyspace, cipher),
    pushes: new RedisPushLog(redis, keyspace, undefined, cipher),
    users: new RedisUserStore(redis, keyspace),
    snapshots: new RedisSnapshotStore(redis, keyspace, cipher),
    apiKeys: new RedisApiKeyStore(redis, keyspace),
    audit: new RedisAuditLog(redis, keyspace),
    consent: new RedisConsentStore(redis, keyspace),
    bus,
    deletionJobs: new RedisDeletionJobStore(redis, keyspace),
    filters: new RedisFilterStore(redis, keyspace),
    catalog: new RedisCatalogStore(redis, keyspace),
    identities: new CachedIdentityStore(new RedisIdentityStore(redis, keyspace), bus, { ...(options.identityCache ?? { max: 100_000, ttlMs: 30_000 }), onError: options.onError ?? (() => {}) }),
    leases: new RedisLeaseStore(redis, keyspace),
    shardCount: options.shardCount,
    mailbox,
    peers: new RedisPeerDirectory(redis, keyspace),
    models: new RedisModelRegistry(redis, keyspace),
    sharedByNodes: true,
    unavailableReason: () => redis.unavailableReason(),
    duplicateClient,
    close: async () => {
      await bus.close();
      await mailbox.close();
      await redis.close();
    },
  };
}
