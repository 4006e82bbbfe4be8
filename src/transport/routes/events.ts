import type { FastifyInstance, FastifyReply } from 'fastify';
import type { IncomingEvent } from '../../session/events.js';
import { AttuneError } from '../../errors.js';
import { retryAfterSeconds } from '../auth.js';
import { putEventsSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

interface PutEventsBody {
  sessionId: string;
  userId?: string;
  eventList: IncomingEvent[];
}

/**
 * One put of a session's events, whichever API it came through: the session's rate limit, the
 * user's consent (an opted-out user's events are acknowledged and dropped), then the log.
 */
export async function acceptEvents(
  deps: HttpDeps,
  reply: FastifyReply,
  identity: { sessionId: string; userId?: string },
  events: readonly IncomingEvent[],
): Promise<{ eventIds: string[]; optedOut?: true }> {
  const { allowed, retryAfterMs } = deps.sessionLimiter.take(identity.sessionId, events.length);
  if (!allowed) {
    deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'rejected' });
    deps.metrics.refusals.inc({ transport: 'http', reason: 'session_rate_limited' });
    reply.header('retry-after', retryAfterSeconds(retryAfterMs));
    throw new AttuneError('RATE_LIMITED', `too many events for session ${identity.sessionId}: retry in ${retryAfterMs} ms`);
  }
  if (identity.userId !== undefined && (await deps.consent.optedOut(identity.userId))) {
    deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'opted-out' });
    return { eventIds: [], optedOut: true };
  }
  try {
    const entries = await deps.host.ingest(identity, events);
    deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'accepted' });
    return { eventIds: entries.map((e) => e.eventId) };
  } catch (err) {
    deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'rejected' });
    throw err;
  }
}

export function eventRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: PutEventsBody }>('/v1/events', { schema: { body: putEventsSchema }, config: { access: 'ingest' } }, async (request, reply) => {
    const { sessionId, userId, eventList } = request.body;
    return acceptEvents(deps, reply, { sessionId, ...(userId === undefined ? {} : { userId }) }, eventList);
  });
}
