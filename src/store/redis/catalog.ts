import { mergeItem } from '../memory.js';
import type { CatalogItem, CatalogItemUpdate, CatalogStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/**
 * Compare-and-set over the catalog hash. ARGV holds triples (itemId, JSON read before merging
 * or '' when absent, merged JSON): all are written only if none changed since they were read.
 * The merge itself runs here in TypeScript (`mergeItem`), so Redis and memory merge alike.
 */
const COMPARE_AND_SET = new LuaScript(`
for i = 1, #ARGV, 3 do
  if (redis.call('HGET', KEYS[1], ARGV[i]) or '') ~= ARGV[i + 1] then return 0 end
end
for i = 1, #ARGV, 3 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) end
redis.call('INCR', KEYS[2])
return 1
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
      const args = ids.flatMap((id, i) => [id, before[i] ?? '', JSON.stringify(items.get(id))]);
      const written = await this.redis.call('catalog upsert', (client) => COMPARE_AND_SET.run(client, [this.keyspace.catalog, this.keyspace.catalogVersion], args));
      if (written === 1) return stored;
    }
    throw new Error(`catalog upsert lost ${MAX_ATTEMPTS} races with concurrent upserts of the same items`);
  }
}

function parseItem(json: string): CatalogItem {
  return JSON.parse(json) as CatalogItem;
}
