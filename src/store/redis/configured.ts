import { readFileSync } from 'node:fs';
import type { AttuneConfig } from '../../config.js';
import { createPayloadCipher } from '../payload-cipher.js';
import type { RedisConnectionOptions } from './connection.js';
import type { RedisStoresOptions } from './index.js';

/** The Redis a configuration names (a node's or a command's): address, password, TLS. */
export function configuredRedisConnection(config: AttuneConfig): RedisConnectionOptions {
  const { url, cluster, password, tlsCa } = config.redis;
  return {
    ...(cluster.length > 0 ? { cluster: [...cluster] } : { url: url ?? undefined }),
    ...(password === null ? {} : { password }),
    // Cluster seeds carry no rediss:// to say so: a CA means TLS.
    ...(tlsCa === null ? {} : { tlsCa: readFileSync(tlsCa, 'utf8'), ...(cluster.length > 0 ? { tls: true } : {}) }),
  };
}

/** The Redis stores a configuration names: its connection, encryption at rest and shard count. */
export function configuredRedisStores(config: AttuneConfig): RedisStoresOptions {
  const cipher = createPayloadCipher(config.security.encryptionKeys, { requireSealed: config.security.encryptionRequired });
  return {
    ...configuredRedisConnection(config),
    ...(cipher === null ? {} : { cipher }),
    shardCount: config.cluster.shardCount,
  };
}
