import type { IdentityStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/** KEYS: a session's link. ARGV: user id. Deletes the link only if it still names that user. */
const UNLINK_IF = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

/**
 * A session's link lives in the shard of the session's actor key, beside that actor's data; the
 * reverse index (the user's sessions) in the shard of the user's actor key. The two are in
 * different slots, so no one step writes both: link() adds to the reverse index first, so
 * every link that exists is listed there and a user's erasure never misses one of its sessions.
 */
export class RedisIdentityStore implements IdentityStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async userOf(sessionId: string): Promise<string | null> {
    return this.redis.call('identity get', (client) => client.get(this.keyspace.identity(sessionId)));
  }

  async link(sessionId: string, userId: string): Promise<void> {
    await this.redis.call('identity link', async (client) => {
      await client.sadd(this.keyspace.sessionsOf(userId), sessionId);
      await client.set(this.keyspace.identity(sessionId), userId);
    });
  }

  async sessionsOf(userId: string): Promise<string[]> {
    const sessions = await this.redis.call('identity sessions', (client) => client.smembers(this.keyspace.sessionsOf(userId)));
    return sessions.sort();
  }

  /**
   * Every session listed for the user, including one since relinked to another user (whose link
   * stays). Only the sessions read are removed from the list, so one linked meanwhile stays
   * listed for the next erasure instead of being dropped unseen; the emptied set is gone.
   */
  async unlinkUser(userId: string): Promise<string[]> {
    const sessions = await this.sessionsOf(userId);
    if (sessions.length === 0) return [];
    await this.redis.call('identity unlink', async (client) => {
      await Promise.all(sessions.map((sessionId) => UNLINK_IF.run(client, [this.keyspace.identity(sessionId)], [userId])));
      await client.srem(this.keyspace.sessionsOf(userId), ...sessions);
    });
    return sessions;
  }
}
