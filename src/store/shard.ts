import { fnv1a32 } from '../lib/fnv1a.js';
import type { Fence } from './types.js';

/**
 * Keys map to a fixed number of shards. The same function places a key's data in the store (one
 * Redis Cluster slot per shard) and routes the key's actor to the node that leases the shard, so
 * it must never change for a deployment: changing it, or the shard count, moves every key.
 */

export const DEFAULT_SHARD_COUNT = 256;

export function shardOf(key: string, shardCount: number): number {
  assertShardCount(shardCount);
  return fnv1a32(key) % shardCount;
}

export function assertShardCount(shardCount: number): void {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 16384) {
    throw new RangeError(`shardCount must be an integer from 1 to 16384, got ${shardCount}`);
  }
}

export function assertShard(shard: number, shardCount: number): void {
  if (!Number.isInteger(shard) || shard < 0 || shard >= shardCount) {
    throw new RangeError(`shard must be an integer from 0 to ${shardCount - 1}, got ${shard}`);
  }
}

/** A fence must name the shard of the key it guards; anything else is a routing bug, not a lost lease. */
export function assertFenceShard(fence: Fence, key: string, shardCount: number): void {
  const shard = shardOf(key, shardCount);
  if (fence.shard !== shard) throw new RangeError(`fence names shard ${fence.shard} but ${key} is in shard ${shard}`);
}
