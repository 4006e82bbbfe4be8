import { randomUUID } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { RedisConnection, type RedisClient, type RedisConnectionOptions } from '../store/redis/connection.js';
import { LuaScript } from '../store/redis/lua-script.js';
import { deliver, entryLifetime, lockLifetime, parseInvalidation, type InvalidationHandler, type InvalidationMessage, type SharedEntry, type SharedLayer } from './shared-layer.js';

/**
 * KEYS: the entry hash. ARGV: value, storedAt, freshUntil, staleUntil, lifetime ms. Replacing the
 * fields and setting the expiry are one step, so no reader sees an entry that never expires.
 */
const SET = new LuaScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'storedAt', ARGV[2], 'freshUntil', ARGV[3], 'staleUntil', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`);

/** KEYS: the lock. ARGV: the holder's token. Deletes the lock only while that token holds it. */
const UNLOCK = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export interface RedisSharedLayerOptions {
  /** Namespaces every key and the channel, so deployments can share a Redis. Default `attune`. */
  keyPrefix?: string;
  /** The clock for storedAt and freshUntil (epoch ms). Default Date.now. */
  now?: () => number;
}

/**
 * The shared layer on Redis or Redis Cluster:
 *
 *   <prefix>:cache:<key>        hash: v (bytes), storedAt, freshUntil, staleUntil; expires by PEXPIRE
 *   <prefix>:cache-lock:<key>   string: the holder's token; expires by PX
 *   <prefix>:cache:invalidate   pub/sub channel, JSON messages
 *
 * Every script touches one key, so keys need no hash tag and spread over a cluster's slots. The
 * channel is plain (not sharded) pub/sub: in a cluster a PUBLISH reaches the subscribers of every
 * node. The subscriber is its own connection (a connection in subscribe mode can run nothing
 * else); ioredis subscribes it again by itself after a reconnect. Messages published while a
 * subscriber is disconnected are lost: entries still expire by their fresh window.
 *
 * Every operation rejects with StoreUnavailableError when Redis is down or slow (RedisConnection).
 */
export class RedisSharedLayer implements SharedLayer {
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly handlers = new Set<InvalidationHandler>();
  private subscribed: Promise<unknown> | null = null;
  private ownedConnection: RedisConnection | null = null;

  constructor(
    private readonly redis: RedisConnection,
    private readonly subscriber: RedisClient,
    options: RedisSharedLayerOptions = {},
  ) {
    this.prefix = options.keyPrefix ?? 'attune';
    // A brace in the prefix would become a hash tag and put every cache key in one slot.
    if (this.prefix === '' || /[{}]/.test(this.prefix)) throw new RangeError(`keyPrefix must be non-empty and free of braces, got "${this.prefix}"`);
    this.now = options.now ?? Date.now;
    subscriber.on('message', (channel: string, payload: string) => {
      if (channel !== this.channel) return;
      const message = parse(payload);
      if (message === null) return;
      for (const handler of this.handlers) deliver(handler, message);
    });
  }

  /**
   * Opens a connection and a subscriber connection of its own; close() closes both. To share the
   * stores' connection, construct one with that connection and a duplicated subscriber instead.
   */
  static async open(options: RedisConnectionOptions & RedisSharedLayerOptions): Promise<RedisSharedLayer> {
    const redis = await RedisConnection.open(options);
    let subscriber: RedisClient | undefined;
    try {
      subscriber = await duplicateSubscriber(redis.client);
      const layer = new RedisSharedLayer(redis, subscriber, options);
      layer.ownedConnection = redis;
      return layer;
    } catch (err) {
      subscriber?.disconnect();
      await redis.close();
      throw err;
    }
  }

  entryKey(key: string): string {
    return `${this.prefix}:cache:${key}`;
  }

  lockKey(key: string): string {
    return `${this.prefix}:cache-lock:${key}`;
  }

  get channel(): string {
    return `${this.prefix}:cache:invalidate`;
  }

  async get(key: string): Promise<SharedEntry | null> {
    const [value, storedAt, freshUntil, staleUntil] = await this.redis.call('cache get', (client) => client.hmgetBuffer(this.entryKey(key), 'v', 'storedAt', 'freshUntil', 'staleUntil'));
    if (value === null || storedAt === null || freshUntil === null || staleUntil === null) return null;
    return {
      // A view, not a copy: callers expect a plain Uint8Array, not a Buffer.
      value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
      storedAt: Number(storedAt.toString()),
      freshUntil: Number(freshUntil.toString()),
      staleUntil: Number(staleUntil.toString()),
    };
  }

  async set(key: string, value: Uint8Array, freshMs: number, staleMs: number): Promise<void> {
    const lifetime = entryLifetime(freshMs, staleMs);
    const storedAt = this.now();
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    await this.redis.call('cache set', (client) => SET.run(client, [this.entryKey(key)], [bytes, storedAt, storedAt + freshMs, storedAt + lifetime, lifetime]));
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    // One key per command: in a cluster, a multi-key DEL must stay within one slot.
    await this.redis.call('cache delete', (client) => Promise.all(keys.map((key) => client.unlink(this.entryKey(key)))));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const full = this.entryKey(prefix);
    const pattern = `${escapeGlob(full)}*`;
    return this.redis.call('cache delete prefix', async (client) => {
      const masters: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
      const found = (await Promise.all(masters.map((node) => scanKeys(node, pattern)))).flat().filter((key) => key.startsWith(full));
      const deleted = await Promise.all(found.map((key) => client.unlink(key)));
      return deleted.reduce((sum, count) => sum + count, 0);
    });
  }

  async tryLock(key: string, ttlMs: number): Promise<string | null> {
    const lifetime = lockLifetime(ttlMs);
    const token = randomUUID();
    const reply = await this.redis.call('cache lock', (client) => client.set(this.lockKey(key), token, 'PX', lifetime, 'NX'));
    return reply === 'OK' ? token : null;
  }

  async unlock(key: string, token: string): Promise<boolean> {
    const released = await this.redis.call('cache unlock', (client) => UNLOCK.run(client, [this.lockKey(key)], [token]));
    return Number(released) === 1;
  }

  async publishInvalidation(message: InvalidationMessage): Promise<void> {
    const payload = JSON.stringify(message);
    await this.redis.call('cache invalidate', (client) => client.publish(this.channel, payload));
  }

  async subscribeInvalidations(handler: InvalidationHandler): Promise<() => Promise<void>> {
    // A wrapper per subscription, so one handler subscribed twice is two subscriptions.
    const subscription: InvalidationHandler = (message) => handler(message);
    this.handlers.add(subscription);
    this.subscribed ??= this.subscriber.subscribe(this.channel);
    try {
      await this.subscribed;
    } catch (err) {
      this.handlers.delete(subscription);
      this.subscribed = null;
      throw err;
    }
    return async () => {
      if (!this.handlers.delete(subscription) || this.handlers.size > 0) return;
      this.subscribed = null;
      // Disconnected, the subscription is gone already; one restored on reconnect finds no handler.
      await this.subscriber.unsubscribe(this.channel).catch(() => undefined);
    };
  }

  /** Disconnects the subscriber, and the connection too when open() opened it (a connection passed in stays open). */
  async close(): Promise<void> {
    this.handlers.clear();
    this.subscriber.disconnect();
    await this.ownedConnection?.close();
  }
}

/** Like createRedisStores' subscriber: its subscription waits out a reconnect in the queue rather than fail. */
async function duplicateSubscriber(client: RedisClient): Promise<RedisClient> {
  const copy = client instanceof Cluster ? client.duplicate() : client.duplicate({ enableOfflineQueue: true });
  // It reconnects by itself; without a listener ioredis prints every failed attempt.
  copy.on('error', () => {});
  await copy.connect();
  return copy;
}

function parse(payload: string): InvalidationMessage | null {
  try {
    return parseInvalidation(JSON.parse(payload));
  } catch {
    return null;
  }
}

async function scanKeys(node: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** SCAN MATCH takes a glob: a prefix's own glob characters must match literally. */
function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}
