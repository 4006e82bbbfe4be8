import { RedisSharedLayer } from '../cache/redis-shared-layer.js';
import { MemorySharedLayer, type SharedLayer } from '../cache/shared-layer.js';
import type { AttuneConfig } from '../config.js';
import type { Metrics } from '../ops/metrics.js';
import { createMemoryStores } from '../store/memory.js';
import { configuredRedisConnection, configuredRedisStores } from '../store/redis/configured.js';
import { createRedisStores, type RedisConnectionOptions, type RedisStores } from '../store/redis/index.js';
import type { Stores } from '../store/types.js';

/** A node's storage: its stores and the list cache's shared layer, on Redis or in this process. */
export interface NodeStorage {
  stores: Stores;
  /** The Redis stores this node opened itself (null on memory stores or stores handed in). */
  redis: RedisStores | null;
  cacheLayer: SharedLayer;
  close(): Promise<void>;
}

export interface StorageOverrides {
  /** Stores to use instead of opening them (tests: several nodes on one memory store). */
  stores?: Stores;
  cacheLayer?: SharedLayer;
}

export function usesRedis(config: AttuneConfig): boolean {
  return config.redis.url !== null || config.redis.cluster.length > 0;
}

/** Opens the stores the configuration names: Redis when a URL or cluster seeds are given, else memory. */
export async function openStorage(config: AttuneConfig, metrics: Metrics, onError: (err: unknown, context: string) => void, overrides: StorageOverrides = {}): Promise<NodeStorage> {
  const onFailure = (operation: string, kind: 'unavailable' | 'reply'): void => metrics.redisErrors.inc({ operation, kind });
  const redis = overrides.stores === undefined && usesRedis(config) ? await openRedisStores(config, onFailure, onError) : null;
  const stores = overrides.stores ?? redis ?? createMemoryStores({ shardCount: config.cluster.shardCount });
  // The cache's shared layer: Redis (own connections) when the stores are, else this process's memory.
  const cacheLayer = overrides.cacheLayer ?? (usesRedis(config) ? await RedisSharedLayer.open({ ...configuredRedisConnection(config), onFailure }) : new MemorySharedLayer());
  return {
    stores,
    redis,
    cacheLayer,
    close: async () => {
      if (overrides.cacheLayer === undefined) await cacheLayer.close();
      await stores.close();
    },
  };
}

function openRedisStores(config: AttuneConfig, onFailure: RedisConnectionOptions['onFailure'], onError: (err: unknown, context: string) => void): Promise<RedisStores> {
  return createRedisStores({ ...configuredRedisStores(config), ...(onFailure === undefined ? {} : { onFailure }), onError });
}
