import { Packr } from 'msgpackr';
import type { LogEntry, NewLogEntry } from '../../session/events.js';
import { payloadContext, type PayloadCipher } from '../payload-cipher.js';
import type { AppendedAfter, AppendedOnce, EventLog } from '../types.js';
import type { RedisClient, RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript, wholeMsArg } from './lua-script.js';
import { ScriptBatch } from './script-batch.js';
import { escapeGlob } from './glob.js';

// Plain maps and arrays only, as for snapshots: any node and any later version must decode.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/**
 * KEYS: the key's stream, the shard's key set (one slot). ARGV: payload, actor key. Returns the
 * new id and the id of the entry before it ('' when the stream held none). The stream append and
 * the key-set update are one step, so keys() never misses a logged key: a stream with entries was
 * added to the set with its first one (delete() removes both), so only an empty stream adds it.
 */
const APPEND = new LuaScript(`
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
if newest[1] then return {id, newest[1][1]} end
redis.call('SADD', KEYS[2], ARGV[2])
return {id, ''}
`);

/**
 * KEYS: the key's stream, the shard's key set, the client event id's marker (one slot). ARGV:
 * payload, actor key, window in ms. Returns {id, 1} for a duplicate, else {id, 0, previous id or
 * ''}. The check and the append are one step: two concurrent resends store one entry.
 *
 * The common case (the stream exists, the id is new) costs three commands, not four: the entry is
 * appended first and the marker set only if absent (SET NX), so no GET precedes it; a duplicate's
 * entry is deleted again within the same script, so no reader ever sees it. A stream that does not
 * exist yet is never created for a duplicate (an erased user's resend must not bring her key back).
 */
const APPEND_ONCE = new LuaScript(`
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = redis.call('XADD', KEYS[1], 'NOMKSTREAM', '*', 'e', ARGV[1])
if id then
  if redis.call('SET', KEYS[3], id, 'NX', 'PX', ARGV[3]) then
    if newest[1] then return {id, 0, newest[1][1]} end
    redis.call('SADD', KEYS[2], ARGV[2])
    return {id, 0, ''}
  end
  redis.call('XDEL', KEYS[1], id)
  return {redis.call('GET', KEYS[3]), 1}
end
local earlier = redis.call('GET', KEYS[3])
if earlier then return {earlier, 1} end
id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
redis.call('SET', KEYS[3], id, 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
return {id, 0, ''}
`);

/** KEYS: the key's stream, the shard's key set (one slot). ARGV: actor key. */
const DELETE = new LuaScript(`
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`);

/**
 * Drops entries up to ARGV[1] except the newest ARGV[2] of them. XTRIM MINID removes whole
 * stream nodes at once, so the cut is expressed as the oldest id to keep.
 */
const TRIM = new LuaScript(`
local keep = tonumber(ARGV[2])
local covered = redis.call('XREVRANGE', KEYS[1], ARGV[1], '-', 'COUNT', keep + 1)
if #covered <= keep then return 0 end
if keep > 0 then return redis.call('XTRIM', KEYS[1], 'MINID', covered[keep][1]) end
local after = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', 1)
if #after == 0 then return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0) end
return redis.call('XTRIM', KEYS[1], 'MINID', after[1][1])
`);

/**
 * One Redis Stream per actor key; the stream id is the event id. The stream is never deleted
 * by a trim, even when emptied: it remembers its last id, so ids keep growing. Only delete()
 * (a user's erasure) removes it. With a cipher, the `e` field is sealed for `log:<key>`; no
 * script reads it.
 */
export class RedisEventLog implements EventLog {
  /** Group commit: the appends of one tick, whatever their keys, go to Redis in one round trip. */
  private readonly appends: ScriptBatch;
  private readonly appendsOnce: ScriptBatch;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
    private readonly cipher: PayloadCipher | null = null,
  ) {
    this.appends = new ScriptBatch(redis, APPEND, 'append');
    this.appendsOnce = new ScriptBatch(redis, APPEND_ONCE, 'append');
  }

  async append(key: string, entry: NewLogEntry): Promise<LogEntry> {
    return (await this.appendAfter(key, entry, null)).entry;
  }

  async appendAfter(key: string, entry: NewLogEntry, previousId: string | null): Promise<AppendedAfter> {
    const shard = this.keyspace.shardOf(key);
    const reply = await this.appends.run([this.keyspace.log(key), this.keyspace.logKeys(shard)], [this.seal(key, packr.pack(entry)), key]);
    if (!Array.isArray(reply) || typeof reply[0] !== 'string' || typeof reply[1] !== 'string') throw new Error(`append returned ${String(reply)}`);
    return { entry: { ...entry, eventId: reply[0] } as LogEntry, follows: reply[1] === (previousId ?? '') };
  }

  async appendOnce(key: string, entry: NewLogEntry, clientEventId: string, windowMs: number, previousId?: string | null): Promise<AppendedOnce> {
    const shard = this.keyspace.shardOf(key);
    const keys = [this.keyspace.log(key), this.keyspace.logKeys(shard), this.keyspace.appendedOnce(key, clientEventId)];
    const reply = await this.appendsOnce.run(keys, [this.seal(key, packr.pack(entry)), key, wholeMsArg(windowMs)]);
    if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw new Error(`append-once returned ${String(reply)}`);
    const duplicate = reply[1] === 1;
    return { eventId: reply[0], duplicate, follows: !duplicate && previousId !== undefined && reply[2] === (previousId ?? '') };
  }

  async read(key: string, afterId: string | null): Promise<LogEntry[]> {
    const start = afterId === null ? '-' : `(${afterId}`;
    const entries = await this.redis.call('read', (client) => client.xrangeBuffer(this.keyspace.log(key), start, '+'));
    return entries.map(([id, fields]) => this.decodeEntry(key, id.toString(), fields));
  }

  async keys(prefix: string): Promise<string[]> {
    const pattern = `${escapeGlob(prefix)}*`;
    const shards = Array.from({ length: this.keyspace.shardCount }, (_, shard) => shard);
    const perShard = await this.redis.call('keys', (client) =>
      Promise.all(shards.map((shard) => scanSet(client, this.keyspace.logKeys(shard), pattern))),
    );
    return perShard.flat().filter((key) => key.startsWith(prefix));
  }

  async delete(key: string): Promise<void> {
    const shard = this.keyspace.shardOf(key);
    await this.redis.call('log delete', (client) => DELETE.run(client, [this.keyspace.log(key), this.keyspace.logKeys(shard)], [key]));
  }

  async trim(key: string, throughId: string, keep: number): Promise<number> {
    if (!Number.isInteger(keep) || keep < 0) throw new RangeError(`keep must be a non-negative integer, got ${keep}`);
    const dropped = await this.redis.call('trim', (client) => TRIM.run(client, [this.keyspace.log(key)], [throughId, keep]));
    return Number(dropped);
  }

  private seal(key: string, plain: Buffer): Buffer {
    return this.cipher === null ? plain : this.cipher.seal(plain, payloadContext('log', key));
  }

  private decodeEntry(key: string, eventId: string, fields: Buffer[]): LogEntry {
    const stored = fieldValue(fields, 'e');
    const decoded: unknown = packr.unpack(this.cipher === null ? stored : this.cipher.open(stored, payloadContext('log', key)));
    if (typeof decoded !== 'object' || decoded === null) throw new Error(`log entry ${eventId} is not an object`);
    return { ...decoded, eventId } as LogEntry;
  }
}

function fieldValue(fields: Buffer[], name: string): Buffer {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i].toString() === name) return fields[i + 1];
  throw new Error(`log entry has no field ${name}`);
}

async function scanSet(client: RedisClient, key: string, pattern: string): Promise<string[]> {
  const members: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.sscan(key, cursor, 'MATCH', pattern, 'COUNT', 1000);
    members.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return members;
}

