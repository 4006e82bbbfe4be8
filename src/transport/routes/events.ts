import type { FastifyInstance, FastifyReply } from 'fastify';
import type { IncomingEvent } from '../../session/events.js';
import { SessionRateLimited, type Accepted } from '../../serving/index.js';
import { retryAfterSeconds } from '../auth.js';
import { putEventsSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

interface PutEventsBody {
  sessionId: string;
  userId?: string;
  eventList: IncomingEvent[];
}

/** One HTTP put of a session's events, native or Personalize: a refusal for the rate limit says when to retry. */
export async function acceptEvents(deps: HttpDeps, reply: FastifyReply, identity: { sessionId: string; userId: string | undefined }, events: readonly IncomingEvent[]): Promise<Accepted> {
  try {
    return await deps.ingest.accept({ via: 'http', sessionId: identity.sessionId, userId: identity.userId ?? null, link: true, optedOut: false }, events);
  } catch (err) {
    if (err instanceof SessionRateLimited) reply.header('retry-after', retryAfterSeconds(err.retryAfterMs));
    throw err;
  }
}

export function eventRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: PutEventsBody }>('/v1/events', { schema: { body: putEventsSchema }, config: { access: 'ingest' } }, async (request, reply) => {
    const { sessionId, userId, eventList } = request.body;
    return acceptEvents(deps, reply, { sessionId, userId }, eventList);
  });
}
