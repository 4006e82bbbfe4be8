import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { ModelSlot } from '../../model/model-slot.js';
import { replayKey } from '../../ops/session-replay.js';
import { missingIdentity } from '../../serving/index.js';
import { filterQueryProperties, identityQueryProperties, listOptionsFromQuery, type FilterQuery } from '../list-options.js';
import type { HttpDeps } from './deps.js';

type ReplayQuery = FilterQuery & { sessionId?: string; userId?: string; modelDir?: string };

const replayQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { ...identityQueryProperties, ...filterQueryProperties, modelDir: { type: 'string', minLength: 1, maxLength: 4096 } },
} as const;

/**
 * GET /v1/admin/replay: a key's timeline (see src/ops/session-replay.ts) with the model serving
 * the key (its experiment arm's), or
 * what-if with the filter parameters of the list routes and/or another bundle (`modelDir`).
 */
export function replayRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Querystring: ReplayQuery }>('/v1/admin/replay', { schema: { querystring: replayQuerySchema }, config: { access: 'admin' } }, async (request) => {
    const key = await deps.recommendations.keyOf(request.query);
    if (key === null) throw missingIdentity();
    const [entries, pushes] = await Promise.all([deps.stores.log.read(key, null), deps.stores.pushes.read(key)]);
    if (entries.length === 0) throw new AttuneError('NOT_FOUND', `${key} has no events in the log`);
    const { modelDir } = request.query;
    let other: ModelSlot | null = null;
    if (modelDir !== undefined) {
      try {
        other = await ModelSlot.load(modelDir, deps.config.scoring, deps.config.reducer);
      } catch (err) {
        throw new AttuneError('INVALID_MODEL', err instanceof Error ? err.message : String(err));
      }
    }
    try {
      // By default the model that serves the key now: its experiment arm's.
      const model = other?.get() ?? deps.arms.modelFor(key);
      return await replayKey({ key, entries, pushes, scorer: model.scorer, catalog: deps.catalog, reducer: model.reducer, listSize: deps.config.pushSize, options: listOptionsFromQuery(request.query) });
    } finally {
      await other?.close();
    }
  });
}
