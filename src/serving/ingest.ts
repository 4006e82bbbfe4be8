import type { ActorHost } from '../actors/actor-host.js';
import type { Metrics } from '../ops/metrics.js';
import type { ConsentGate } from '../privacy/consent-gate.js';
import type { IncomingEvent, InteractionEntry } from '../session/events.js';
import type { SessionLimits, Transport } from './session-limits.js';

/** Who sent a batch of events, as the transport knows it (validated; the user id already a pseudonym). */
export interface EventSource {
  via: Transport;
  sessionId: string;
  /** The user the events are of; null for a visitor who has not signed in. Their consent decides whether the events are kept. */
  userId: string | null;
  /**
   * Link the session to `userId` as the events are stored: an HTTP put names its user every
   * time. A socket's session was linked when it connected or identified, so its events are not.
   */
  link: boolean;
  /** Seen opted out earlier on this connection: dropped without asking again (a socket remembers it). */
  optedOut: boolean;
}

/** The acknowledgement: the events' ids, or none and `optedOut` when they were dropped. */
export interface Accepted {
  eventIds: string[];
  optedOut?: true;
}

/**
 * Where events come in, whatever the API: the session's rate limit, the user's consent (an
 * opted-out user's events are acknowledged and dropped), then the log through the actor host.
 * Refusals are AttuneErrors (SessionRateLimited for the limit); the transport maps them.
 */
export class Ingest {
  constructor(
    private readonly deps: {
      host: Pick<ActorHost, 'ingest'>;
      consent: ConsentGate;
      limits: SessionLimits;
      metrics: Metrics;
      /** Hears the events of every batch stored, as acknowledged (online metrics attribute them here, where their lists were shown). */
      onAccepted?: (entries: readonly InteractionEntry[]) => void;
    },
  ) {}

  async accept(source: EventSource, events: readonly IncomingEvent[]): Promise<Accepted> {
    const { via, sessionId, userId } = source;
    const count = (outcome: 'accepted' | 'rejected' | 'opted-out') => this.deps.metrics.putEventsRequests.inc({ transport: via, outcome });
    const limited = this.deps.limits.take(sessionId, via, events.length);
    if (limited !== null) {
      count('rejected');
      throw limited;
    }
    // Asked per batch (a cached answer): a user may opt out while connected.
    if (source.optedOut || (userId !== null && (await this.deps.consent.optedOut(userId)))) {
      count('opted-out');
      return { eventIds: [], optedOut: true };
    }
    try {
      const entries = await this.deps.host.ingest(source.link && userId !== null ? { sessionId, userId } : { sessionId }, events);
      count('accepted');
      this.deps.onAccepted?.(entries);
      return { eventIds: entries.map((entry) => entry.eventId) };
    } catch (err) {
      count('rejected');
      throw err;
    }
  }
}
