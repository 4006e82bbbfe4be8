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

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text` (lone surrogates count as U+FFFD, as
 * TextEncoder writes them), so any language can reproduce the mapping. Encodes inline: this runs
 * for every event and a TextEncoder call would allocate.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const mix = (byte: number): void => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      mix(code);
      continue;
    }
    if (code < 0x800) {
      mix(0xc0 | (code >> 6));
      mix(0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        mix(0xf0 | (code >> 18));
        mix(0x80 | ((code >> 12) & 0x3f));
        mix(0x80 | ((code >> 6) & 0x3f));
        mix(0x80 | (code & 0x3f));
        continue;
      }
      code = 0xfffd;
    }
    mix(0xe0 | (code >> 12));
    mix(0x80 | ((code >> 6) & 0x3f));
    mix(0x80 | (code & 0x3f));
  }
  return hash >>> 0;
}
