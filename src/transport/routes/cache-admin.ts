import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import type { HttpDeps } from './deps.js';

interface InvalidateBody {
  cache?: 'recommendations' | 'related';
  prefix?: string;
}

const invalidateSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    cache: { type: 'string', enum: ['recommendations', 'related'] },
    prefix: { type: 'string', maxLength: 1024 },
  },
} as const;

/**
 * POST /v1/admin/cache/invalidate: drops cached lists on every node, e.g. after a bulk catalog
 * change or a model rollout, instead of waiting for them to expire. Cache keys start with the
 * actor key (`u:<pseudonym>`, `s:<sessionId>`) or the item id, then `|` and the model version,
 * so one prefix drops everything cached for a person (their erasure does).
 */
export function cacheAdminRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: InvalidateBody }>('/v1/admin/cache/invalidate', { schema: { body: invalidateSchema }, config: { access: 'admin' } }, async (request) => {
    if (deps.lists === null) throw new AttuneError('VALIDATION', 'caching is off on this node (--cache false)');
    const names = request.body.cache === undefined ? (['recommendations', 'related'] as const) : [request.body.cache];
    for (const name of names) await deps.lists[name].invalidate(request.body.prefix ?? '');
    await deps.audit(request, { action: 'cache.invalidate', target: names.join(','), outcome: 'ok' });
    return { invalidated: names, prefix: request.body.prefix ?? '' };
  });
}
