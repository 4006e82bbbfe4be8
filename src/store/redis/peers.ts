import { randomBytes } from 'node:crypto';
import type { PeerDirectory } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/** One hash of node id -> URL, and one string for the secret, set once with NX so every node reads the first one. */
export class RedisPeerDirectory implements PeerDirectory {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async announce(nodeId: string, url: string): Promise<void> {
    await this.redis.call('peer announce', (client) => client.hset(this.keyspace.peers, nodeId, url));
  }

  async urlOf(nodeId: string): Promise<string | null> {
    return this.redis.call('peer url', (client) => client.hget(this.keyspace.peers, nodeId));
  }

  async withdraw(nodeId: string): Promise<void> {
    await this.redis.call('peer withdraw', (client) => client.hdel(this.keyspace.peers, nodeId));
  }

  async secret(): Promise<string> {
    const made = randomBytes(32).toString('base64url');
    const reply = await this.redis.call('peer secret', (client) => client.set(this.keyspace.peerSecret, made, 'NX', 'GET'));
    return reply ?? made;
  }
}
