import type { FastifyInstance } from 'fastify';
import { userKey } from '../../session/events.js';
import { AttuneError } from '../../errors.js';
import { idSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

export function segmentRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/v1/segments', { config: { access: 'recommend' } }, async () => deps.segmenter.segments());

  app.get<{ Params: { userId: string } }>(
    '/v1/users/:userId/segment',
    { schema: { params: { type: 'object', properties: { userId: idSchema } } }, config: { access: 'recommend' } },
    async (request) => {
      const { userId } = request.params;
      const state = await deps.host.currentState(userKey(userId));
      const given = request.rawUserId ?? userId;
      if (state.eventCount === 0) throw new AttuneError('NOT_FOUND', `user ${given} has no history`);
      const segment = await deps.segmenter.segmentOf(state);
      return { userId: given, segmentId: segment?.segmentId ?? null, distance: segment?.distance ?? null };
    },
  );
}
