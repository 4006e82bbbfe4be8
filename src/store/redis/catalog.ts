import { CATALOG_CHANGES_KEPT, mergeItem } from '../memory.js';
import type { CatalogItem, CatalogItemUpdate, CatalogStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/**
 * Compare-and-set over the catalog hash. KEYS: items, version, changes. ARGV: the number of
 * change-log entries to keep, then triples (itemId, JSON read before merging or '' when absent,
 * merged JSON): all are written only if none changed since they were read, and the write is
 * one version, logged with its item ids. The merge itself runs here in TypeScript
 * (`mergeItem`), so Redis and memory merge alike.
 */
const COMPARE_AND_SET = new LuaScript(`
for i = 2, #ARGV, 3 do
  if (redis.call('HGET', KEYS[1], ARGV[i]) or '') ~= ARGV[i + 1] then return 0 end
end
local ids = {}
for i = 2, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  ids[#ids + 1] = ARGV[i]
end
local version = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[1], version .. '-0', 'ids', cjson.encode(ids))
return 1
`);

/** KEYS: version, changes. ARGV: the caller's version. Returns {current version, ids JSON...} or {-1} when the log has a gap. */
const CHANGES_SINCE = new LuaScript(`
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = tonumber(ARGV[1])
if since == current then return {current} end
if since > current then return {-1} end
local entries = redis.call('XRANGE', KEYS[2], '(' .. since .. '-0', '+')
if #entries ~= current - since then return {-1} end
local reply = {current}
for _, entry in ipairs(entries) do reply[#reply + 1] = entry[2][2] end
return reply
`);

/** Bounds how long one script blocks Redis during a large import. */
const ITEMS_PER_WRITE = 1000;
const MAX_ATTEMPTS = 10;

/** The catalog as one hash of item JSON: small next to the event log, and read whole at startup. */
export class RedisCatalogStore implements CatalogStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async upsert(updates: readonly CatalogItemUpdate[]): Promise<CatalogItem[]> {
    const stored: CatalogItem[] = [];
    for (let i = 0; i < updates.length; i += ITEMS_PER_WRITE) stored.push(...(await this.upsertChunk(updates.slice(i, i + ITEMS_PER_WRITE))));
    return stored;
  }

  async list(): Promise<CatalogItem[]> {
    const values = await this.redis.call('catalog list', (client) => client.hvals(this.keyspace.catalog));
    return values.map(parseItem);
  }

  async get(itemIds: readonly string[]): Promise<CatalogItem[]> {
    if (itemIds.length === 0) return [];
    const values = await this.redis.call('catalog get', (client) => client.hmget(this.keyspace.catalog, ...itemIds));
    return values.flatMap((json) => (json === null ? [] : [parseItem(json)]));
  }

  async version(): Promise<number> {
    const version = await this.redis.call('catalog version', (client) => client.get(this.keyspace.catalogVersion));
    return version === null ? 0 : Number(version);
  }

  async changesSince(version: number): Promise<{ version: number; itemIds: string[] } | null> {
    const keys = [this.keyspace.catalogVersion, this.keyspace.catalogChanges];
    const reply = await this.redis.call('catalog changes', (client) => CHANGES_SINCE.run(client, keys, [version]));
    if (!Array.isArray(reply) || typeof reply[0] !== 'number') throw new Error(`catalog changes script returned ${String(reply)}`);
    if (reply[0] === -1) return null;
    const itemIds = new Set<string>();
    for (const json of reply.slice(1)) for (const id of JSON.parse(String(json)) as string[]) itemIds.add(id);
    return { version: reply[0], itemIds: [...itemIds] };
  }

  /** Retries when a concurrent upsert changed one of the items between the read and the write. */
  private async upsertChunk(updates: readonly CatalogItemUpdate[]): Promise<CatalogItem[]> {
    const ids = [...new Set(updates.map((update) => update.itemId))];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const before = await this.redis.call('catalog upsert', (client) => client.hmget(this.keyspace.catalog, ...ids));
      const items = new Map<string, CatalogItem>();
      ids.forEach((id, i) => {
        const json = before[i];
        if (json !== null) items.set(id, parseItem(json));
      });
      const stored = updates.map((update) => {
        const merged = mergeItem(items.get(update.itemId), update);
        items.set(merged.itemId, merged);
        return merged;
      });
      const args = [CATALOG_CHANGES_KEPT, ...ids.flatMap((id, i) => [id, before[i] ?? '', JSON.stringify(items.get(id))])];
      const keys = [this.keyspace.catalog, this.keyspace.catalogVersion, this.keyspace.catalogChanges];
      const written = await this.redis.call('catalog upsert', (client) => COMPARE_AND_SET.run(client, keys, args));
      if (written === 1) return stored;
    }
    throw new Error(`catalog upsert lost ${MAX_ATTEMPTS} races with concurrent upserts of the same items`);
  }
}

function parseItem(json: string): CatalogItem {
  return JSON.parse(json) as CatalogItem;
}
