import { defaultConfig } from '../config.js';
import { UsageError, positiveNumber, type ParsedFlags } from '../model/command-args.js';
import type { RedisStoresOptions } from '../store/redis/index.js';

/** The flags a command that works on a cluster's Redis takes. */
export const REDIS_FLAGS = ['redis', 'redis-cluster', 'redis-password', 'shards'] as const;

/**
 * The stores' options from --redis URL | --redis-cluster host:port,..., --redis-password and
 * --shards. Neither address given is a UsageError that says what to do instead (`otherwise`).
 */
export function redisStoresOptions(flags: ParsedFlags, otherwise: string): RedisStoresOptions {
  const url = flags.values.get('redis');
  const cluster = flags.values.get('redis-cluster');
  if ((url === undefined) === (cluster === undefined)) throw new UsageError(`give the cluster's Redis: --redis URL or --redis-cluster host:port,... (${otherwise})`);
  const password = flags.values.get('redis-password');
  return {
    ...(cluster !== undefined ? { cluster: cluster.split(',').map((seed) => seed.trim()) } : { url }),
    ...(password === undefined ? {} : { password }),
    shardCount: positiveNumber(flags, 'shards') ?? defaultConfig.cluster.shardCount,
  };
}
