/** What a client sends: one interaction of a session with an item. */
export interface IncomingEvent {
  eventType: string;
  itemId: string;
  eventValue?: number;
  properties?: Record<string, unknown>;
  /** Epoch milliseconds or an ISO-8601 string; the server's receive time when absent. */
  sentAt?: number | string;
  /** Item ids shown to the user alongside this event (Personalize's `impression`), at most 100. */
  impression?: string[];
  /** The list this event responds to: a list's `recommendationId`. */
  recommendationId?: string;
  /** The client's id for this event (Personalize's `eventId`): a resend within the dedup window is stored once. */
  eventId?: string;
}

/** An interaction as it sits in the event log: validated, timed and enriched at ingestion. */
export interface InteractionEntry {
  kind: 'interaction';
  eventId: string;
  sessionId: string;
  userId?: string;
  eventType: string;
  itemId: string;
  eventValue?: number;
  properties?: Record<string, unknown>;
  /** Epoch ms: the client's sentAt or, when absent, the receive time. The reducer's only clock. */
  sentAt: number;
  receivedAt: number;
  /** The item's category at ingestion, so replays do not depend on today's catalog. */
  itemCategory?: string;
  /** As sent: items shown with this event. The reducer counts them, except `itemId`, as shown and not engaged with. */
  impression?: string[];
  /** As sent: the list this event responds to. */
  recommendationId?: string;
  /** As sent: the client's id for the event, by which resends are recognized. */
  clientEventId?: string;
}

/**
 * Identity resolution, as a log entry of the user's key: the anonymous session's state at the
 * moment of `identify`, so the user's state stays a fold of the user's own log.
 */
export interface MergeEntry {
  kind: 'merge';
  eventId: string;
  fromKey: string;
  receivedAt: number;
  /** Entries written before some state fields existed lack them; the reducer upgrades the state. */
  state: import('./state.js').StoredSessionState;
}

export type LogEntry = InteractionEntry | MergeEntry;

/** A log entry before the log has given it an id. */
export type NewLogEntry = Omit<InteractionEntry, 'eventId'> | Omit<MergeEntry, 'eventId'>;

/** Actor keys: one actor per anonymous session, one per identified user. */
export function sessionKey(sessionId: string): string {
  return `s:${sessionId}`;
}

export function userKey(userId: string): string {
  return `u:${userId}`;
}

/** Converts an accepted sentAt to epoch ms; returns null when it is not a usable time. */
export function parseSentAt(sentAt: number | string | undefined, receivedAt: number): number | null {
  if (sentAt === undefined) return receivedAt;
  const ms = typeof sentAt === 'number' ? sentAt : Date.parse(sentAt);
  // The state's clock never goes back: a time far ahead would freeze every later event's weight.
  return Number.isFinite(ms) && ms >= 0 && ms <= receivedAt + SENT_AT_MAX_AHEAD_MS ? ms : null;
}

/** How far ahead of the server's clock a client's sentAt may be (clock skew, not the future). */
export const SENT_AT_MAX_AHEAD_MS = 24 * 3600_000;
