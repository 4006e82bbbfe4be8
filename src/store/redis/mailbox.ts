import type { ShardMailbox } from '../mailbox.js';
import type { RedisClient } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript, wholeMsArg } from './lua-script.js';

/** Redis's clock in ms: every node's notes and reads are timed by the one clock they share. */
const NOW_MS = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * KEYS: the shard's kept-notes set, its recent-notes sorted set, its wake channel. ARGV: actor
 * key, the window in ms. Publishing, keeping and remembering are one step, so a subscriber that
 * reads both sets after subscribing misses no note. The recent set holds only the window: older
 * notes are trimmed here, and the whole set expires once the shard has had no note for as long.
 */
const NOTIFY = new LuaScript(`${NOW_MS}
if redis.call('SPUBLISH', KEYS[3], ARGV[1]) == 0 then redis.call('SADD', KEYS[1], ARGV[1]) end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`);

/**
 * KEYS: the shard's kept-notes set, its recent-notes sorted set. ARGV: the window in ms. Returns
 * the keys noted within the window and the kept ones, each once, and forgets the kept ones.
 */
const HAND_OVER = new LuaScript(`${NOW_MS}
local keys = redis.call('ZRANGEBYSCORE', KEYS[2], now - tonumber(ARGV[1]), '+inf')
local handed = {}
for _, key in ipairs(keys) do handed[key] = true end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not handed[key] then
    handed[key] = true
    keys[#keys + 1] = key
  end
end
redis.call('DEL', KEYS[1])
return keys
`);

/** KEYS: the shard's kept-notes set, its recent-notes sorted set. ARGV: actor key. */
const DISCARD = new LuaScript(`
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`);

/**
 * Notes over Redis sharded pub/sub: the channel carries the shard's hash tag, so in a cluster it
 * lives on the node that holds the shard's keys. The subscriber is its own connection (a
 * connection in subscribe mode can run nothing else) and resubscribes by itself on reconnect.
 */
export class RedisShardMailbox implements ShardMailbox {
  private readonly handlers = new Map<string, (key: string) => void>();

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly keyspace: RedisKeyspace,
  ) {
    subscriber.on('smessage', (channel: string, message: string) => this.handlers.get(channel)?.(message));
  }

  async notify(shard: number, key: string, recentMs: number): Promise<void> {
    await NOTIFY.run(this.publisher, [...this.noteSets(shard), this.keyspace.wake(shard)], [key, wholeMsArg(recentMs)]);
  }

  async subscribe(shard: number, recentMs: number, handler: (key: string) => void): Promise<() => Promise<void>> {
    const channel = this.keyspace.wake(shard);
    this.handlers.set(channel, handler);
    await this.subscriber.ssubscribe(channel);
    const handed = await HAND_OVER.run(this.publisher, this.noteSets(shard), [wholeMsArg(recentMs)]);
    if (Array.isArray(handed)) for (const key of handed) if (typeof key === 'string') handler(key);
    return async () => {
      if (this.handlers.get(channel) !== handler) return;
      this.handlers.delete(channel);
      // Disconnected, the subscription is gone already; one restored on reconnect finds no handler.
      await this.subscriber.sunsubscribe(channel).catch(() => undefined);
    };
  }

  async discard(shard: number, key: string): Promise<void> {
    await DISCARD.run(this.publisher, this.noteSets(shard), [key]);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.subscriber.disconnect();
  }

  /** The shard's kept-notes set and recent-notes sorted set, in the order the scripts take them. */
  private noteSets(shard: number): [string, string] {
    return [this.keyspace.keptNotes(shard), this.keyspace.recentNotes(shard)];
  }
}
