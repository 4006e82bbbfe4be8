import { assertLimit, AUDIT_KEPT } from '../memory.js';
import type { AuditEntry, AuditLog } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/**
 * One stream of admin actions, capped near AUDIT_KEPT entries; an entry's id is its stream id.
 * Callers never give it a user id (a deletion names its job), so erasing a user touches nothing here.
 */
export class RedisAuditLog implements AuditLog {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
    private readonly kept = AUDIT_KEPT,
  ) {}

  async record(entry: AuditEntry): Promise<string> {
    const id = await this.redis.call('audit record', (client) => client.xadd(this.keyspace.audit, 'MAXLEN', '~', this.kept, '*', 'a', JSON.stringify(entry)));
    if (typeof id !== 'string') throw new Error(`XADD returned ${String(id)}`);
    return id;
  }

  async read(options: { limit: number; before?: string }): Promise<Array<AuditEntry & { id: string }>> {
    assertLimit(options.limit);
    if (options.limit === 0) return [];
    const end = options.before === undefined ? '+' : `(${options.before}`;
    const entries = await this.redis.call('audit read', (client) => client.xrevrange(this.keyspace.audit, end, '-', 'COUNT', options.limit));
    return entries.map(([id, fields]) => ({ ...parseEntry(id, fields), id }));
  }
}

function parseEntry(id: string, fields: string[]): AuditEntry {
  const index = fields.indexOf('a');
  const value: unknown = index >= 0 && index % 2 === 0 ? JSON.parse(fields[index + 1]) : null;
  if (typeof value !== 'object' || value === null) throw new Error(`audit entry ${id} is malformed`);
  return value as AuditEntry;
}
