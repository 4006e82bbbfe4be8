import { LRUCache } from 'lru-cache';
import type { BusMessage, IdentityStore, NodeBus } from './types.js';

export interface IdentityCacheOptions {
  /** Sessions remembered per node. */
  max: number;
  /** How long a session's link (or its absence) is trusted without the bus: bounds a lost bus message. */
  ttlMs: number;
  onError: (err: unknown, context: string) => void;
}

/**
 * Which user a session is linked to, remembered per node, so an event does not ask Redis for its
 * key. A link made or undone on any node is announced on the node bus and every node's copy
 * follows it at once; the TTL bounds how long a copy can be wrong when a bus message is lost
 * (the bus drops what is published while a node's subscriber reconnects). Nothing is cached until
 * this node listens to the bus.
 */
export class CachedIdentityStore implements IdentityStore {
  private readonly links: LRUCache<string, { userId: string | null }>;
  private listening: Promise<void> | null = null;
  private listens = false;

  constructor(
    private readonly inner: IdentityStore,
    private readonly bus: NodeBus,
    private readonly options: IdentityCacheOptions,
  ) {
    this.links = new LRUCache({ max: options.max, ttl: options.ttlMs });
  }

  async userOf(sessionId: string): Promise<string | null> {
    const cached = this.links.get(sessionId);
    if (cached !== undefined) return cached.userId;
    this.listen();
    const userId = await this.inner.userOf(sessionId);
    if (this.listens) this.links.set(sessionId, { userId });
    return userId;
  }

  async link(sessionId: string, userId: string): Promise<void> {
    await this.inner.link(sessionId, userId);
    this.links.delete(sessionId);
    await this.announce({ type: 'identity-linked', sessionId, userId });
  }

  sessionsOf(userId: string): Promise<string[]> {
    return this.inner.sessionsOf(userId);
  }

  async unlinkUser(userId: string): Promise<string[]> {
    const sessionIds = await this.inner.unlinkUser(userId);
    for (const sessionId of sessionIds) this.links.delete(sessionId);
    if (sessionIds.length > 0) await this.announce({ type: 'identities-unlinked', sessionIds });
    return sessionIds;
  }

  /** What the bus says of links, from any node (this one's own included). */
  private follow(message: BusMessage): void {
    if (message.type === 'identity-linked') this.links.set(message.sessionId, { userId: message.userId });
    else if (message.type === 'identities-unlinked') for (const sessionId of message.sessionIds) this.links.delete(sessionId);
  }

  private async announce(message: BusMessage): Promise<void> {
    try {
      await this.bus.publish(message);
    } catch (err) {
      // The link is stored; other nodes' copies catch up within the TTL.
      this.options.onError(err, `announce ${message.type}`);
    }
  }

  private listen(): void {
    this.listening ??= this.bus.subscribe((message) => this.follow(message)).then(
      () => {
        this.listens = true;
      },
      (err: unknown) => {
        // Not listening, nothing is cached; the next lookup tries again.
        this.listening = null;
        this.options.onError(err, 'follow identity links on the bus');
      },
    );
  }
}
