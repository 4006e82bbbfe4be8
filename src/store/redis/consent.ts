import type { ConsentStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/** A key exists per opted-out user, in the shard slot of the user's actor key; opting back in deletes it. */
export class RedisConsentStore implements ConsentStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async setOptedOut(userId: string, optedOut: boolean): Promise<void> {
    const key = this.keyspace.optOut(userId);
    await this.redis.call('consent set', async (client) => {
      if (optedOut) await client.set(key, '1');
      else await client.del(key);
    });
  }

  async isOptedOut(userId: string): Promise<boolean> {
    return (await this.redis.call('consent get', (client) => client.exists(this.keyspace.optOut(userId)))) === 1;
  }

  async delete(userId: string): Promise<void> {
    await this.redis.call('consent delete', (client) => client.del(this.keyspace.optOut(userId)));
  }
}
