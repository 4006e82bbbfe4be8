import { assertLeaseId, assertNodeId, assertTtl, type Lease, type LeaseHolder, type LeaseStore } from '../leases.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';
import { ScriptBatch } from './script-batch.js';

/*
 * Expiry is Redis's: leases die by PEXPIRE and heartbeats are scored with TIME, both on the
 * server's clock, so nodes with skewed clocks still agree on who holds what.
 */

/*
 * A Redis without persistence can come back empty: no leases, no epoch counters. Nodes that
 * held leases before still believe so until their next renewal fails, at most one TTL. So a
 * shard with no counter (a new or emptied store) grants no lease for one TTL, and its counter
 * starts at Redis's clock in microseconds, above any epoch the lost counter could have reached
 * (it grows by one per acquisition, far slower than a microsecond clock).
 */

/**
 * KEYS: lease, epoch counter, quarantine. ARGV: node id, ttl ms. Returns the new epoch, or nil
 * when another node holds the lease or the shard is in quarantine.
 */
const ACQUIRE = new LuaScript(`
local holder = redis.call('HGET', KEYS[1], 'node')
if holder and holder ~= ARGV[1] then return false end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], now[1] .. string.rep('0', 6 - #now[2]) .. now[2])
  if not holder then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
    return false
  end
end
if redis.call('EXISTS', KEYS[3]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return epoch
`);

/** KEYS: lease. ARGV: node id, epoch, ttl ms. */
const RENEW = new LuaScript(`
local held = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if held[1] ~= ARGV[1] or held[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`);

/** KEYS: lease. ARGV: node id, epoch. */
const RELEASE = new LuaScript(`
local held = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if held[1] ~= ARGV[1] or held[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/** KEYS: lease. Returns {node, epoch, pttl, seconds, microseconds} or nil. */
const HOLDER = new LuaScript(`
local held = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if not held[1] then return false end
local now = redis.call('TIME')
return {held[1], held[2], redis.call('PTTL', KEYS[1]), now[1], now[2]}
`);

const NOW_MS = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/** KEYS: nodes. ARGV: node id, ttl ms. Prunes expired members so the set stays small. */
const HEARTBEAT = new LuaScript(`${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`);

/** KEYS: nodes. */
const LIVE_NODES = new LuaScript(`${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
`);

export class RedisLeaseStore implements LeaseStore {
  /** A node renews all its shards at once, each round: one round trip for them all. */
  private readonly renewals: ScriptBatch;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {
    this.renewals = new ScriptBatch(redis, RENEW, 'lease renew');
  }

  async heartbeat(nodeId: string, ttlMs: number): Promise<void> {
    assertNodeId(nodeId);
    assertTtl(ttlMs);
    await this.redis.call('heartbeat', (client) => HEARTBEAT.run(client, [this.keyspace.nodes], [nodeId, ttlMs]));
  }

  async leave(nodeId: string): Promise<void> {
    await this.redis.call('leave', (client) => client.zrem(this.keyspace.nodes, nodeId));
  }

  async liveNodes(): Promise<string[]> {
    const nodes = await this.redis.call('live nodes', (client) => LIVE_NODES.run(client, [this.keyspace.nodes], []));
    return stringArray(nodes, 'live nodes').sort();
  }

  async acquire(shard: number, nodeId: string, ttlMs: number): Promise<Lease | null> {
    this.assertShard(shard);
    assertNodeId(nodeId);
    assertTtl(ttlMs);
    const keys = [this.keyspace.lease(shard), this.keyspace.epoch(shard), this.keyspace.quarantine(shard)];
    const epoch = await this.redis.call('lease acquire', (client) => ACQUIRE.run(client, keys, [nodeId, ttlMs]));
    return epoch === null ? null : { epoch: Number(epoch) };
  }

  async renew(shard: number, nodeId: string, epoch: number, ttlMs: number): Promise<boolean> {
    this.assertShard(shard);
    assertTtl(ttlMs);
    return (await this.renewals.run([this.keyspace.lease(shard)], [nodeId, epoch, ttlMs])) === 1;
  }

  async release(shard: number, nodeId: string, epoch: number): Promise<boolean> {
    this.assertShard(shard);
    const released = await this.redis.call('lease release', (client) => RELEASE.run(client, [this.keyspace.lease(shard)], [nodeId, epoch]));
    return released === 1;
  }

  async holder(shard: number): Promise<LeaseHolder | null> {
    this.assertShard(shard);
    const reply = await this.redis.call('lease holder', (client) => HOLDER.run(client, [this.keyspace.lease(shard)], []));
    if (reply === null) return null;
    const [nodeId, epoch, pttl, seconds, micros] = stringArray(reply, 'lease holder', true);
    return { nodeId, epoch: Number(epoch), expiresAt: Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + Number(pttl) };
  }

  private assertShard(shard: number): void {
    assertLeaseId(shard, this.keyspace.shardCount);
  }
}

/** Script replies are untyped; integers inside arrays arrive as numbers, so they are stringified. */
function stringArray(reply: unknown, what: string, allowNumbers = false): string[] {
  if (!Array.isArray(reply)) throw new Error(`${what}: unexpected reply ${String(reply)}`);
  return reply.map((value: unknown) => {
    if (typeof value === 'string') return value;
    if (allowNumbers && typeof value === 'number') return String(value);
    throw new Error(`${what}: unexpected reply element ${String(value)}`);
  });
}
