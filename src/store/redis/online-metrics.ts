import { COUNT_FIELDS, FRACTIONAL_FIELDS, ONLINE_METRICS_RETENTION_MS, dimensionsKey, minuteOf, dimensionsOfKey, sumRows, zeroCounts, type MinuteIncrements, type OnlineCounts, type OnlineCountsRow, type OnlineMetricsStore } from '../online-metrics.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';

const FIELDS: ReadonlySet<string> = new Set(COUNT_FIELDS);

/**
 * One hash per minute, `<count>|<dimensions JSON>` -> value, grown with HINCRBY (HINCRBYFLOAT for
 * money) so every node's flushes add up; a sorted set indexes the minutes for `read`. A flush is
 * one MULTI: its buckets, their expiry and the index change together.
 */
export class RedisOnlineMetricsStore implements OnlineMetricsStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
    private readonly retentionMs = ONLINE_METRICS_RETENTION_MS,
  ) {}

  async add(increments: readonly MinuteIncrements[]): Promise<void> {
    if (increments.every(({ rows }) => rows.length === 0)) return;
    await this.redis.call('online metrics add', async (client) => {
      const multi = client.multi();
      let newest = 0;
      for (const { minute, rows } of increments) {
        if (rows.length === 0) continue;
        const bucket = this.keyspace.onlineBucket(minute);
        for (const { dims, counts } of rows) {
          const dimsKey = dimensionsKey(dims);
          for (const field of COUNT_FIELDS) {
            const value = counts[field];
            if (value === 0) continue;
            if (FRACTIONAL_FIELDS.has(field)) multi.hincrbyfloat(bucket, `${field}|${dimsKey}`, value);
            else multi.hincrby(bucket, `${field}|${dimsKey}`, value);
          }
        }
        multi.pexpireat(bucket, minute + this.retentionMs);
        multi.zadd(this.keyspace.onlineMinutes, minute, String(minute));
        newest = Math.max(newest, minute);
      }
      multi.zremrangebyscore(this.keyspace.onlineMinutes, '-inf', `(${newest - this.retentionMs}`);
      const replies = await multi.exec();
      const failed = replies?.find(([err]) => err !== null)?.[0];
      if (failed) throw failed;
    });
  }

  async read(sinceMs: number): Promise<OnlineCountsRow[]> {
    return this.redis.call('online metrics read', async (client) => {
      const minutes = await client.zrangebyscore(this.keyspace.onlineMinutes, minuteOf(sinceMs), '+inf');
      if (minutes.length === 0) return [];
      const pipeline = client.pipeline();
      for (const minute of minutes) pipeline.hgetall(this.keyspace.onlineBucket(Number(minute)));
      const replies = (await pipeline.exec()) ?? [];
      const rows: OnlineCountsRow[] = [];
      for (const [err, hash] of replies) {
        if (err) throw err;
        rows.push(...rowsOf(hash as Record<string, string>));
      }
      return sumRows(rows);
    });
  }
}

function rowsOf(hash: Record<string, string>): OnlineCountsRow[] {
  const byDims = new Map<string, OnlineCounts>();
  for (const [name, value] of Object.entries(hash)) {
    const bar = name.indexOf('|');
    const field = name.slice(0, bar);
    if (bar < 0 || !FIELDS.has(field)) continue;
    const dimsKey = name.slice(bar + 1);
    const counts = byDims.get(dimsKey) ?? zeroCounts();
    counts[field as keyof OnlineCounts] = Number(value);
    byDims.set(dimsKey, counts);
  }
  return [...byDims.entries()].map(([dimsKey, counts]) => ({ dims: dimensionsOfKey(dimsKey), counts }));
}
