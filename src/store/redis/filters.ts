import { byFilterCreation } from '../memory.js';
import type { FilterStore, StoredFilter } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/** One hash of every named filter's JSON, by name; HSETNX makes a create atomic. */
export class RedisFilterStore implements FilterStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async create(filter: StoredFilter): Promise<void> {
    const created = await this.redis.call('filter create', (client) => client.hsetnx(this.keyspace.filters, filter.name, encodeFilter(filter)));
    if (created === 0) throw new Error(`filter ${filter.name} exists`);
  }

  async get(name: string): Promise<StoredFilter | null> {
    const json = await this.redis.call('filter get', (client) => client.hget(this.keyspace.filters, name));
    return json === null ? null : parseFilter(name, json);
  }

  async list(): Promise<StoredFilter[]> {
    const all = await this.redis.call('filter list', (client) => client.hgetall(this.keyspace.filters));
    return Object.entries(all)
      .map(([name, json]) => parseFilter(name, json))
      .sort(byFilterCreation);
  }

  async delete(name: string): Promise<boolean> {
    return (await this.redis.call('filter delete', (client) => client.hdel(this.keyspace.filters, name))) === 1;
  }
}

function encodeFilter(filter: StoredFilter): string {
  const { name, filterExpression, createdAt } = filter;
  return JSON.stringify({ name, filterExpression, createdAt });
}

function parseFilter(name: string, json: string): StoredFilter {
  const value: unknown = JSON.parse(json);
  if (typeof value === 'object' && value !== null) {
    const r = value as Record<string, unknown>;
    if (r.name === name && typeof r.filterExpression === 'string' && typeof r.createdAt === 'number') {
      return { name, filterExpression: r.filterExpression, createdAt: r.createdAt };
    }
  }
  throw new Error(`filter ${name}: stored record is malformed`);
}
