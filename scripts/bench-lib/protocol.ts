import type { RecommendationsPush } from '../../src/actors/actor-host.js';
import type { ErrorBody } from '../../src/errors.js';

/**
 * The slice of Attune's socket protocol the benchmark speaks, shared by the load generator and
 * the echo baseline. The push type comes from src/ (type-only, erased at build) so a protocol
 * change there breaks this build rather than silently skewing the numbers.
 */
export type { RecommendationsPush };

export interface BenchEvent {
  eventType: 'view' | 'click' | 'add-to-cart' | 'purchase';
  itemId: string;
  sentAt?: number;
}

export type AckReply = { ok: true; eventId?: string } | { ok: false; error: ErrorBody };

export interface ServerToClient {
  recommendations: (push: RecommendationsPush) => void;
}

export interface ClientToServer {
  event: (event: BenchEvent, ack: (reply: AckReply) => void) => void;
}
