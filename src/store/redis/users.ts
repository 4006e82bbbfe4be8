import type { UserAttributes, UserStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/** One hash per user, in the shard slot of the user's actor key. */
export class RedisUserStore implements UserStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async put(users: ReadonlyArray<{ userId: string; attributes: UserAttributes }>): Promise<void> {
    if (users.length === 0) return;
    await this.redis.call('users put', (client) =>
      Promise.all(users.map(({ userId, attributes }) => client.hset(this.keyspace.user(userId), { ...attributes, USER_ID: userId }))),
    );
  }

  async get(userId: string): Promise<UserAttributes | null> {
    const profile = await this.redis.call('user get', (client) => client.hgetall(this.keyspace.user(userId)));
    return Object.keys(profile).length === 0 ? null : profile;
  }

  async delete(userId: string): Promise<void> {
    await this.redis.call('user delete', (client) => client.del(this.keyspace.user(userId)));
  }
}
