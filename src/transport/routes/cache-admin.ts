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
 * model version, then the actor key (`u:<userId>`, `s:<sessionId>`) or the item id.
 */
export function cacheAdminRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: InvalidateBody }>('/v1/admin/cache/invalidate', { schema: { body: invalidateSchema } }, async (request) => {
    if (deps.lists === null) throw new AttuneError('VALIDATION', 'caching is off on this node (--cache false)');
    const names = request.body.cache === undefined ? (['recommendations', 'related'] as const) : [request.body.cache];
    for (const name of names) await deps.lists[name].invalidate(request.body.prefix ?? '');
    return { invalidated: names, prefix: request.body.prefix ?? '' };
  });
}
