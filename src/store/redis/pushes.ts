import { Packr } from 'msgpackr';
import { payloadContext, type PayloadCipher } from '../payload-cipher.js';
import { PUSHES_KEPT } from '../memory.js';
import type { PushLog, PushRecord } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** One capped Redis Stream per actor key, in the key's shard slot beside its event log; with a cipher, `p` is sealed for `push:<key>`. */
export class RedisPushLog implements PushLog {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
    private readonly keep = PUSHES_KEPT,
    private readonly cipher: PayloadCipher | null = null,
  ) {}

  async record(key: string, push: PushRecord): Promise<void> {
    await this.redis.call('push record', (client) => client.xadd(this.keyspace.pushes(key), 'MAXLEN', '~', this.keep, '*', 'p', this.seal(key, packr.pack(push))));
  }

  async read(key: string): Promise<PushRecord[]> {
    const entries = await this.redis.call('push read', (client) => client.xrangeBuffer(this.keyspace.pushes(key), '-', '+'));
    // MAXLEN ~ trims whole stream nodes, so the stream may hold a few more than `keep`.
    return entries.slice(-this.keep).map(([, fields]) => packr.unpack(this.cipher === null ? fields[1] : this.cipher.open(fields[1], payloadContext('push', key))) as PushRecord);
  }

  async delete(key: string): Promise<void> {
    await this.redis.call('push delete', (client) => client.del(this.keyspace.pushes(key)));
  }

  private seal(key: string, plain: Buffer): Buffer {
    return this.cipher === null ? plain : this.cipher.seal(plain, payloadContext('push', key));
  }
}
