import type { BusMessage, NodeBus } from '../types.js';
import type { RedisClient, RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/**
 * Classic Redis pub/sub on one channel, JSON messages. In a cluster a PUBLISH to any node reaches
 * the subscribers of every node. Subscribing takes a connection of its own (a connection in
 * subscribe mode can run nothing else), opened at the first subscribe and restored by the client
 * after a reconnect; messages published while it was down are lost, as a bus message may be.
 */
export class RedisNodeBus implements NodeBus {
  private readonly handlers = new Set<(message: BusMessage) => void>();
  private subscriber: Promise<RedisClient> | null = null;
  private closed = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
    /** Opens (and connects) the dedicated subscriber connection; the bus closes it. */
    private readonly connectSubscriber: () => Promise<RedisClient>,
  ) {}

  async publish(message: BusMessage): Promise<void> {
    await this.redis.call('bus publish', (client) => client.publish(this.keyspace.bus, JSON.stringify(message)));
  }

  async subscribe(handler: (message: BusMessage) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('the bus is closed');
    // A wrapper per subscription, so one handler subscribed twice is two subscriptions.
    const subscription = (message: BusMessage): void => handler(message);
    await this.redis.call('bus subscribe', () => this.listening());
    this.handlers.add(subscription);
    return async () => {
      this.handlers.delete(subscription);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    const subscriber = await this.subscriber?.catch(() => null);
    subscriber?.disconnect();
  }

  /** Resolves once the channel's subscription is confirmed; a failed attempt is retried by the next subscribe. */
  private listening(): Promise<RedisClient> {
    this.subscriber ??= this.listen().catch((err: unknown) => {
      this.subscriber = null;
      throw err;
    });
    return this.subscriber;
  }

  private async listen(): Promise<RedisClient> {
    const subscriber = await this.connectSubscriber();
    try {
      subscriber.on('message', (channel: string, raw: string) => {
        if (channel === this.keyspace.bus) this.deliver(raw);
      });
      await subscriber.subscribe(this.keyspace.bus);
    } catch (err) {
      subscriber.disconnect();
      throw err;
    }
    if (this.closed) subscriber.disconnect();
    return subscriber;
  }

  private deliver(raw: string): void {
    const message = parseBusMessage(raw);
    if (message === null) return;
    for (const handler of this.handlers) {
      const copy = structuredClone(message);
      // Asynchronously, as the memory bus does: a handler runs outside the client's event handling.
      queueMicrotask(() => {
        if (this.handlers.has(handler)) handler(copy);
      });
    }
  }
}

/** The message, rebuilt from known fields only; null for anything else (ignored, never thrown). */
export function parseBusMessage(raw: string): BusMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'forget':
      return Array.isArray(m.keys) && m.keys.every((key) => typeof key === 'string') ? { type: 'forget', keys: m.keys as string[] } : null;
    case 'consent':
      return typeof m.userId === 'string' && typeof m.optedOut === 'boolean' ? { type: 'consent', userId: m.userId, optedOut: m.optedOut } : null;
    case 'key-revoked':
      return typeof m.keyId === 'string' ? { type: 'key-revoked', keyId: m.keyId } : null;
    case 'identity-linked':
      return typeof m.sessionId === 'string' && typeof m.userId === 'string' ? { type: 'identity-linked', sessionId: m.sessionId, userId: m.userId } : null;
    case 'identities-unlinked':
      return Array.isArray(m.sessionIds) && m.sessionIds.every((id) => typeof id === 'string') ? { type: 'identities-unlinked', sessionIds: m.sessionIds as string[] } : null;
    case 'node-left':
      return typeof m.nodeId === 'string' ? { type: 'node-left', nodeId: m.nodeId } : null;
    case 'models-changed':
      return typeof m.live === 'string' || m.live === null ? { type: 'models-changed', live: m.live } : null;
    default:
      return null;
  }
}
