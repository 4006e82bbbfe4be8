import { byCreation } from '../memory.js';
import { ROLE_NAMES, type ApiKeyRecord, type ApiKeyStore, type Role } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/**
 * KEYS: the keys hash. ARGV: key id, the record JSON as read, the revoked record's JSON.
 * Compare-and-set: the record is replaced only if it is still exactly what was read, so two
 * revocations (or a revocation racing anything else) cannot both win. The script never parses
 * JSON itself (Lua's cjson would turn `[]` into `{}` and round big numbers).
 */
const REPLACE_IF = new LuaScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`);

const ROLES: ReadonlySet<string> = new Set<Role>(ROLE_NAMES);

/** One hash of every API key's record (its secret's SHA-256, never the secret), by key id. */
export class RedisApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async create(record: ApiKeyRecord): Promise<void> {
    const created = await this.redis.call('api key create', (client) => client.hsetnx(this.keyspace.apiKeys, record.id, encodeRecord(record)));
    if (created === 0) throw new Error(`api key ${record.id} exists`);
  }

  async get(id: string): Promise<ApiKeyRecord | null> {
    const json = await this.redis.call('api key get', (client) => client.hget(this.keyspace.apiKeys, id));
    return json === null ? null : parseRecord(id, json);
  }

  async list(): Promise<ApiKeyRecord[]> {
    const all = await this.redis.call('api key list', (client) => client.hgetall(this.keyspace.apiKeys));
    return Object.entries(all)
      .map(([id, json]) => parseRecord(id, json))
      .sort(byCreation);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    // A conflict means the record changed between the read and the script: read it again.
    for (let attempt = 0; attempt < 10; attempt++) {
      const json = await this.redis.call('api key revoke', (client) => client.hget(this.keyspace.apiKeys, id));
      if (json === null) return false;
      const record = parseRecord(id, json);
      if (record.revokedAt !== null) return false;
      const replaced = await this.redis.call('api key revoke', (client) => REPLACE_IF.run(client, [this.keyspace.apiKeys], [id, json, encodeRecord({ ...record, revokedAt: at })]));
      if (replaced === 1) return true;
    }
    throw new Error(`api key ${id}: revoke kept conflicting with other writes`);
  }
}

function encodeRecord(record: ApiKeyRecord): string {
  const { id, name, roles, hash, createdAt, revokedAt } = record;
  return JSON.stringify({ id, name, roles, hash, createdAt, revokedAt });
}

function parseRecord(id: string, json: string): ApiKeyRecord {
  const value: unknown = JSON.parse(json);
  if (typeof value === 'object' && value !== null) {
    const r = value as Record<string, unknown>;
    const roles = r.roles;
    if (
      r.id === id &&
      typeof r.name === 'string' &&
      Array.isArray(roles) &&
      roles.every((role) => typeof role === 'string' && ROLES.has(role)) &&
      typeof r.hash === 'string' &&
      typeof r.createdAt === 'number' &&
      (r.revokedAt === null || typeof r.revokedAt === 'number')
    ) {
      return { id, name: r.name, roles: roles as Role[], hash: r.hash, createdAt: r.createdAt, revokedAt: r.revokedAt };
    }
  }
  throw new Error(`api key ${id}: stored record is malformed`);
}
