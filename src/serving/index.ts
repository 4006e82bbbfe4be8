import type { ActorHost } from '../actors/actor-host.js';
import type { ListCache } from '../cache/list-cache.js';
import type { CatalogIndex } from '../model/catalog.js';
import type { Metrics } from '../ops/metrics.js';
import type { ConsentGate } from '../privacy/consent-gate.js';
import type { RateLimiter } from '../security/token-bucket.js';
import type { InteractionEntry } from '../session/events.js';
import { Ingest } from './ingest.js';
import { Recommendations, type RecommendationsDeps } from './recommendations.js';
import { SessionLimits } from './session-limits.js';

/**
 * The application layer: what every API (the socket gateway, the native HTTP routes, the
 * Personalize routes) does with events and lists, so that the transports only validate,
 * authenticate and shape answers. It takes plain data: user ids arrive already pseudonymized,
 * because the transports pseudonymize at their edge (one HTTP hook for every route, which
 * serves more than events and lists; the socket's auth and identify), before anything else
 * sees an id.
 */
export interface Serving {
  ingest: Ingest;
  recommendations: Recommendations;
  /** The per-session bucket that socket connects and identify draw on besides events. */
  sessionLimits: SessionLimits;
}

export interface ServingDeps {
  host: ActorHost;
  consent: ConsentGate;
  catalog: CatalogIndex;
  modelFor: RecommendationsDeps['modelFor'];
  lists: { recommendations: ListCache; related: ListCache } | null;
  /** Events (and socket connects and identify) per session. */
  sessionLimiter: RateLimiter;
  metrics: Metrics;
  onShown?: RecommendationsDeps['onShown'];
  /** Every batch of events stored through Ingest (not imports). */
  onEventsAccepted?: (entries: readonly InteractionEntry[]) => void;
}

export function createServing(deps: ServingDeps): Serving {
  const sessionLimits = new SessionLimits({ limiter: deps.sessionLimiter, metrics: deps.metrics });
  return {
    sessionLimits,
    ingest: new Ingest({ host: deps.host, consent: deps.consent, limits: sessionLimits, metrics: deps.metrics, ...(deps.onEventsAccepted === undefined ? {} : { onAccepted: deps.onEventsAccepted }) }),
    recommendations: new Recommendations({ host: deps.host, consent: deps.consent, catalog: deps.catalog, modelFor: deps.modelFor, lists: deps.lists, ...(deps.onShown === undefined ? {} : { onShown: deps.onShown }) }),
  };
}

export { Ingest, type Accepted, type EventSource } from './ingest.js';
export { missingIdentity, RANKING_FILTER, Recommendations, type ArmedServedList, type ArmScorer, UnknownItemError, type ListRequest, type OptionsForState, type RankRequest, type RelatedRequest, type ServedList } from './recommendations.js';
export { SessionLimits, SessionRateLimited, type Transport } from './session-limits.js';
export type { Visitor } from './visitor.js';
export { strangerToCatalog } from './model-fit.js';
