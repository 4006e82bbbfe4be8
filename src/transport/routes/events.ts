import type { FastifyInstance } from 'fastify';
import type { IncomingEvent } from '../../actors/events.js';
import { putEventsSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

interface PutEventsBody {
  sessionId: string;
  userId?: string;
  eventList: IncomingEvent[];
}

export function eventRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: PutEventsBody }>('/v1/events', { schema: { body: putEventsSchema } }, async (request) => {
    const { sessionId, userId, eventList } = request.body;
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
