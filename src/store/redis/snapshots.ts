import { payloadContext, type PayloadCipher } from '../payload-cipher.js';
import { assertFenceShard } from '../shard.js';
import { FencedError, type Fence, type SnapshotStore, type StoredSnapshot } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/**
 * The fence check and the write are one script, so no lease change can fall between them.
 * KEYS: snapshot hash, the shard's lease. ARGV: last event id ('' for none), bytes, fence epoch
 * ('' for an unfenced put). Ids compare as numbers written in digits: by length, then text,
 * which stays exact past 2^53.
 */
const PUT = new LuaScript(`
if ARGV[3] ~= '' then
  local current = redis.call('HGET', KEYS[2], 'epoch')
  if current ~= ARGV[3] then return 'fenced:' .. (current or '') end
end
local function later(a, b)
  if a == b or a == '' then return false end
  if b == '' then return true end
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if am ~= bm then
    if #am ~= #bm then return #am > #bm end
    return am > bm
  end
  if #as ~= #bs then return #as > #bs end
  return as > bs
end
local stored = redis.call('HGET', KEYS[1], 'id')
if stored and later(stored, ARGV[1]) then return 'stale' end
redis.call('DEL', KEYS[1])
if ARGV[3] == '' then
  redis.call('HSET', KEYS[1], 'bytes', ARGV[2], 'id', ARGV[1])
else
  redis.call('HSET', KEYS[1], 'bytes', ARGV[2], 'id', ARGV[1], 'epoch', ARGV[3])
end
return 'kept'
`);

/**
 * One hash per actor key, in its shard's slot, beside the shard's lease that fences it. With a
 * cipher, `bytes` is sealed for `snap:<key>` (the script stores it without reading it).
 */
export class RedisSnapshotStore implements SnapshotStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
    private readonly cipher: PayloadCipher | null = null,
  ) {}

  async get(key: string): Promise<StoredSnapshot | null> {
    const [stored, id, epoch] = await this.redis.call('snapshot get', (client) => client.hmgetBuffer(this.keyspace.snapshot(key), 'bytes', 'id', 'epoch'));
    if (stored === null) return null;
    const bytes = this.cipher === null ? stored : this.cipher.open(stored, payloadContext('snap', key));
    const lastEventId = id === null || id.length === 0 ? null : id.toString();
    // A view, not a copy: callers expect a plain Uint8Array, not a Buffer.
    const snapshot: StoredSnapshot = { key, lastEventId, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
    if (epoch !== null) snapshot.epoch = Number(epoch.toString());
    return snapshot;
  }

  async put(snapshot: StoredSnapshot, fence?: Fence): Promise<boolean> {
    if (fence) assertFenceShard(fence, snapshot.key, this.keyspace.shardCount);
    const shard = this.keyspace.shardOf(snapshot.key);
    const keys = [this.keyspace.snapshot(snapshot.key), this.keyspace.lease(shard)];
    const plain = Buffer.from(snapshot.bytes.buffer, snapshot.bytes.byteOffset, snapshot.bytes.byteLength);
    const args = [snapshot.lastEventId ?? '', this.cipher === null ? plain : this.cipher.seal(plain, payloadContext('snap', snapshot.key)), fence ? String(fence.epoch) : ''];
    const outcome = await this.redis.call('snapshot put', (client) => PUT.run(client, keys, args));
    if (outcome === 'kept') return true;
    if (outcome === 'stale') return false;
    if (typeof outcome === 'string' && fence && outcome.startsWith('fenced:')) {
      const current = outcome.slice('fenced:'.length);
      throw new FencedError(fence.shard, fence.epoch, current === '' ? null : Number(current));
    }
    throw new Error(`snapshot put script returned ${String(outcome)}`);
  }

  async delete(key: string): Promise<void> {
    await this.redis.call('snapshot delete', (client) => client.del(this.keyspace.snapshot(key)));
  }
}
