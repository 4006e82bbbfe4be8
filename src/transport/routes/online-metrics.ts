import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { minuteOf } from '../../store/online-metrics.js';
import type { HttpDeps } from './deps.js';

/** Without `since`: the last day. */
export const ONLINE_METRICS_DEFAULT_SPAN_MS = 24 * 3600_000;

const querySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { since: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/** Epoch ms from `since`: digits are epoch ms, anything else an ISO-8601 date or time. Null when it is neither. */
export function parseSince(since: string): number | null {
  if (/^\d{1,15}$/.test(since)) return Number(since);
  if (!/^\d{4}-\d{2}-\d{2}/.test(since)) return null;
  const ms = Date.parse(since);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

/** GET /v1/admin/online-metrics: the deployment's online metrics since a time (src/ops/online-metrics.ts). */
export function onlineMetricsRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Querystring: { since?: string } }>('/v1/admin/online-metrics', { schema: { querystring: querySchema }, config: { access: 'admin' } }, async (request) => {
    const now = deps.now();
    const raw = request.query.since;
    const since = raw === undefined ? now - ONLINE_METRICS_DEFAULT_SPAN_MS : parseSince(raw);
    if (since === null) throw new AttuneError('VALIDATION', `querystring/since must be an ISO-8601 time or epoch milliseconds, got "${raw}"`);
    const report = await deps.onlineMetrics.report(since);
    return {
      // Buckets are per minute: the report starts at the minute `since` falls in.
      since: new Date(minuteOf(since)).toISOString(),
      until: new Date(now).toISOString(),
      attributionWindowMs: deps.config.online.attributionWindowMs,
      ...report,
    };
  });
}
