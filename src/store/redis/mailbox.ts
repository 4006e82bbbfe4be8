import type { ShardMailbox } from '../mailbox.js';
import type { RedisClient } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/**
 * KEYS: the shard's kept-notes set, its wake channel. ARGV: actor key. Publishing and keeping
 * are one step, so a subscriber that drains the set after subscribing misses no note.
 */
const NOTIFY = new LuaScript(`
if redis.call('SPUBLISH', KEYS[2], ARGV[1]) == 0 then redis.call('SADD', KEYS[1], ARGV[1]) end
return 1
`);

/** KEYS: the shard's kept-notes set. Returns and forgets its members. */
const DRAIN = new LuaScript(`
local kept = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return kept
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

  async notify(shard: number, key: string): Promise<void> {
    await NOTIFY.run(this.publisher, [this.keyspace.keptNotes(shard), this.keyspace.wake(shard)], [key]);
  }

  async subscribe(shard: number, handler: (key: string) => void): Promise<() => Promise<void>> {
    const channel = this.keyspace.wake(shard);
    this.handlers.set(channel, handler);
    await this.subscriber.ssubscribe(channel);
    const kept = await DRAIN.run(this.publisher, [this.keyspace.keptNotes(shard)], []);
    if (Array.isArray(kept)) for (const key of kept) if (typeof key === 'string') handler(key);
    return async () => {
      if (this.handlers.get(channel) !== handler) return;
      this.handlers.delete(channel);
      // Disconnected, the subscription is gone already; one restored on reconnect finds no handler.
      await this.subscriber.sunsubscribe(channel).catch(() => undefined);
    };
  }

  async discard(shard: number, key: string): Promise<void> {
    await this.publisher.srem(this.keyspace.keptNotes(shard), key);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.subscriber.disconnect();
  }
}
