import { AttuneError } from '../errors.js';
import type { Metrics } from '../ops/metrics.js';
import type { RateLimiter } from '../security/token-bucket.js';

/** Which API a message came through: the label of its metrics. */
export type Transport = 'http' | 'socket';

/** A session over its rate limit: RATE_LIMITED, with when to retry (HTTP's retry-after). */
export class SessionRateLimited extends AttuneError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super('RATE_LIMITED', message);
  }
}

/** What a refusal says was too much: over HTTP only event puts draw on the bucket; a socket's connects and identify do too. */
const REFUSED: Readonly<Record<Transport, (sessionId: string) => string>> = {
  http: (sessionId) => `too many events for session ${sessionId}`,
  socket: () => 'too many connections and messages for this session',
};

/**
 * One token bucket per session, drawn on by whatever costs the node a list or a model run: HTTP
 * event puts (one token per event), socket connects, socket events and identify.
 */
export class SessionLimits {
  constructor(private readonly deps: { limiter: RateLimiter; metrics: Metrics }) {}

  /** Takes `cost` tokens of the session's bucket: null when the message may go on, else the refusal (counted). */
  take(sessionId: string, via: Transport, cost = 1): SessionRateLimited | null {
    const { allowed, retryAfterMs } = this.deps.limiter.take(sessionId, cost);
    if (allowed) return null;
    this.deps.metrics.refusals.inc({ transport: via, reason: 'session_rate_limited' });
    return new SessionRateLimited(`${REFUSED[via](sessionId)}: retry in ${retryAfterMs} ms`, retryAfterMs);
  }
}
