import { DELETION_JOB_TTL_MS, type DeletionJob, type DeletionJobStore } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

/** One string per job, expiring DELETION_JOB_TTL_MS after its latest put. It never names the user. */
export class RedisDeletionJobStore implements DeletionJobStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
    private readonly ttlMs = DELETION_JOB_TTL_MS,
  ) {}

  async put(job: DeletionJob): Promise<void> {
    const { id, state, requestedAt, finishedAt, keysErased, error } = job;
    const json = JSON.stringify({ id, state, requestedAt, finishedAt, keysErased, ...(error === undefined ? {} : { error }) });
    await this.redis.call('deletion job put', (client) => client.set(this.keyspace.deletionJob(job.id), json, 'PX', this.ttlMs));
  }

  async get(id: string): Promise<DeletionJob | null> {
    const json = await this.redis.call('deletion job get', (client) => client.get(this.keyspace.deletionJob(id)));
    if (json === null) return null;
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null || (value as Record<string, unknown>).id !== id) throw new Error(`deletion job ${id}: stored record is malformed`);
    return value as DeletionJob;
  }
}
