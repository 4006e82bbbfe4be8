import type { FastifyInstance } from 'fastify';
import type { IncomingEvent } from '../../actors/events.js';
import { AttuneError } from '../../errors.js';
import { putEventsSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

interface PutEventsBody {
  sessionId: string;
  userId?: string;
  eventList: IncomingEvent[];
}

export function eventRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: PutEventsBody }>('/v1/events', { schema: { body: putEventsSchema }, config: { access: 'ingest' } }, async (request, reply) => {
    const { sessionId, userId, eventList } = request.body;
    const { allowed, retryAfterMs } = deps.sessionLimiter.take(sessionId, eventList.length);
    if (!allowed) {
      deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'rejected' });
      deps.metrics.refusals.inc({ transport: 'http', reason: 'session_rate_limited' });
      reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      throw new AttuneError('RATE_LIMITED', `too many events for session ${sessionId}: retry in ${retryAfterMs} ms`);
    }
    // An opted-out user's events are acknowledged and dropped: nothing of theirs is stored.
    if (userId !== undefined && (await deps.consent.optedOut(userId))) {
      deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'opted-out' });
      return { eventIds: [], optedOut: true };
    }
    try {
      const entries = await deps.host.ingest({ sessionId, ...(userId === undefined ? {} : { userId }) }, eventList);
      deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'accepted' });
      return { eventIds: entries.map((e) => e.eventId) };
    } catch (err) {
      deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'rejected' });
      throw err;
    }
  });
}
