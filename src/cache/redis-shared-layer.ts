import { randomUUID } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { RedisConnection, type RedisClient, type RedisConnectionOptions } from '../store/redis/connection.js';
import { deliver, entryLifetime, lockLifetime, parseInvalidation, type EntryAndLock, type InvalidationHandler, type InvalidationMessage, type SharedEntry, type SharedLayer } from './shared-layer.js';
import { escapeGlob } from '../store/redis/glob.js';
import { LuaScript } from '../store/redis/lua-script.js';

/**
 * KEYS: the entry, the lock. ARGV: the entry's payload, its lifetime ms, the holder's token.
 * Stores the entry in any case; deletes the lock only while that token holds it. Returns 1 when
 * it released the lock.
 */
const SET_AND_UNLOCK = new LuaScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
`);

/**
 * KEYS: the entry, the lock. ARGV: now (the caller's clock), a new token, the lock's ttl ms.
 * Returns { payload, locked }: the entry's payload (nil when there is none, or it is past
 * staleUntil by `now` though Redis has not expired it yet), and 1 when the entry is missing or
 * stale and the lock was free and is now this token's.
 */
const GET_OR_LOCK = new LuaScript(`
local now = tonumber(ARGV[1])
local payload = redis.call('GET', KEYS[1])
if payload then
  local freshUntil, staleUntil = string.match(payload, '^%S+ (%S+) (%S+)\\n')
  if not staleUntil or tonumber(staleUntil) <= now then
    payload = false
  elseif tonumber(freshUntil) > now then
    return { payload, 0 }
  end
end
local taken = redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3], 'NX')
return { payload, taken and 1 or 0 }
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
 *   <prefix>:cache:{#<key>}        string: '<storedAt> <freshUntil> <staleUntil>\n' then the value's bytes; expires by PX
 *   <prefix>:cache-lock:{#<key>}   string: the holder's token; expires by PX
 *   <prefix>:cache:invalidate      pub/sub channel, JSON messages
 *
 * An entry and its lock share a hash tag, so a script can touch both in one step on a cluster:
 * the tag is the text from the first '{' to the next '}', and the prefix has no braces, so both
 * names' tags are '#' followed by the key up to its own first '}' (if any): the same for both,
 * and never empty (an empty tag would hash the whole name). Different keys still spread over
 * the cluster's slots. The channel is plain (not sharded) pub/sub: in a cluster a PUBLISH
 * reaches the subscribers of every node. The subscriber is its own connection (a connection in
 * subscribe mode can run nothing else); ioredis subscribes it again by itself after a
 * reconnect. Messages published while a subscriber is disconnected are lost: entries still
 * expire by their fresh window.
 *
 * Every operation but deletePrefix is one round trip: get is a GET, set a SET PX (entry and expiry
 * in one command, so no reader sees an entry that never expires), getOrLock, setAndUnlock and
 * unlock one script each. The entry is one string rather than a hash so that a store is one
 * command, also inside a script: Redis counts every command a script runs. Freshness in
 * getOrLock is judged by this layer's `now`, sent with the script, the same clock that wrote
 * storedAt and freshUntil.
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
    return `${this.entryHead}${key}}`;
  }

  lockKey(key: string): string {
    return `${this.prefix}:cache-lock:{#${key}}`;
  }

  /** What every entry key starts with, up to the key itself. */
  private get entryHead(): string {
    return `${this.prefix}:cache:{#`;
  }

  get channel(): string {
    return `${this.prefix}:cache:invalidate`;
  }

  async get(key: string): Promise<SharedEntry | null> {
    return parseEntry(await this.redis.call('cache get', (client) => client.getBuffer(this.entryKey(key))));
  }

  async getOrLock(key: string, lockTtlMs: number): Promise<EntryAndLock> {
    const lifetime = lockLifetime(lockTtlMs);
    const token = randomUUID();
    const reply = await this.redis.call('cache get or lock', (client) => GET_OR_LOCK.runBuffer(client, [this.entryKey(key), this.lockKey(key)], [this.now(), token, lifetime]));
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`unexpected reply to cache get or lock: ${String(reply)}`);
    const [payload, locked]: unknown[] = reply;
    return { entry: parseEntry(payload), lock: Number(locked) === 1 ? token : null };
  }

  async set(key: string, value: Uint8Array, freshMs: number, staleMs: number): Promise<void> {
    const { payload, lifetime } = this.payload(value, freshMs, staleMs);
    await this.redis.call('cache set', (client) => client.set(this.entryKey(key), payload, 'PX', lifetime));
  }

  async setAndUnlock(key: string, value: Uint8Array, freshMs: number, staleMs: number, token: string): Promise<boolean> {
    const { payload, lifetime } = this.payload(value, freshMs, staleMs);
    const released = await this.redis.call('cache set and unlock', (client) => SET_AND_UNLOCK.runBuffer(client, [this.entryKey(key), this.lockKey(key)], [payload, lifetime, token]));
    return Number(released) === 1;
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    // One key per command: in a cluster, a multi-key DEL must stay within one slot.
    await this.redis.call('cache delete', (client) => Promise.all(keys.map((key) => client.unlink(this.entryKey(key)))));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const head = this.entryHead;
    const pattern = `${escapeGlob(head + prefix)}*`;
    // The pattern also matches names whose closing '}' falls inside the prefix (key 'a' for prefix 'a}'): the key itself must start with it.
    const under = (name: string): boolean => name.startsWith(head) && name.endsWith('}') && name.slice(head.length, -1).startsWith(prefix);
    return this.redis.call('cache delete prefix', async (client) => {
      const masters: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
      const found = (await Promise.all(masters.map((node) => scanKeys(node, pattern)))).flat().filter(under);
      const deleted = await Promise.all(found.map((name) => client.unlink(name)));
      return deleted.reduce((sum, count) => sum + count, 0);
    });
  }

  async unlock(key: string, token: string): Promise<boolean> {
    const released = await this.redis.call('cache unlock', (client) => UNLOCK.runBuffer(client, [this.lockKey(key)], [token]));
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

  /** An entry as stored, stamped by this layer's clock; validates before anything is sent. */
  private payload(value: Uint8Array, freshMs: number, staleMs: number): { payload: Buffer; lifetime: number } {
    const lifetime = entryLifetime(freshMs, staleMs);
    const storedAt = this.now();
    const header = Buffer.from(`${storedAt} ${storedAt + freshMs} ${storedAt + lifetime}\n`, 'latin1');
    return { payload: Buffer.concat([header, value]), lifetime };
  }
}

/** An entry from its stored payload (a Buffer, or null when missing); null when it is not one. */
function parseEntry(payload: unknown): SharedEntry | null {
  if (!Buffer.isBuffer(payload)) return null;
  const end = payload.indexOf(0x0a);
  if (end < 0) return null;
  const [storedAt, freshUntil, staleUntil, ...rest] = payload.subarray(0, end).toString('latin1').split(' ').map(Number);
  if (rest.length > 0 || ![storedAt, freshUntil, staleUntil].every(Number.isFinite)) return null;
  // A view, not a copy: callers expect a plain Uint8Array, not a Buffer.
  return { value: new Uint8Array(payload.buffer, payload.byteOffset + end + 1, payload.byteLength - end - 1), storedAt, freshUntil, staleUntil };
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

