import type { IdentityStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/** A session's link lives in the shard of the session's actor key, beside that actor's data. */
export class RedisIdentityStore implements IdentityStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async userOf(sessionId: string): Promise<string | null> {
    return this.redis.call('identity get', (client) => client.get(this.keyspace.identity(sessionId)));
  }

  async link(sessionId: string, userId: string): Promise<void> {
    await this.redis.call('identity link', (client) => client.set(this.keyspace.identity(sessionId), userId));
  }
}
