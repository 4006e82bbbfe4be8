/** What the server pushes on the socket's `recommendations` message (README: Socket protocol). */
export interface Recommendations {
  items: Array<{ itemId: string; score: number }>;
  recommendationId: string;
  modelVersion: string;
  /** The experiment arm whose model built the list: 'candidate' for the users an experiment gives the candidate model, else 'live'. */
  arm: 'live' | 'candidate';
  /** The latest event the list reflects (its log id, as in the event's ack); null for the list sent on connect. */
  cause: { eventId: string; eventType: string; itemId: string } | null;
}

/** An error body as the server sends it in a failed ack or a refused connection. */
export interface ServerError {
  code: string;
  message: string;
  /** The same message may succeed if sent again later (rate limited, node not ready). */
  retryable?: true;
}

/** A successful event ack. */
export interface TrackAck {
  ok: true;
  /** The event's id in the server's event log; a push's `cause.eventId` names the same. Absent when `optedOut`. */
  eventId?: string;
  /** The user opted out: acknowledged, not stored. */
  optedOut?: true;
  /** The id this library gave the event (sent as the event's `eventId`, the same on every resend). */
  clientEventId: string;
}

export interface IdentifyAck {
  ok: true;
  optedOut?: true;
}

/** The subset of the Web Storage API the queue persists to: window.localStorage, or your own. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** What the customer's backend hands the browser: the body of Attune's POST /v1/tokens. */
export interface TokenGrant {
  token: string;
  /** Epoch seconds; the server accepts the token strictly before this second. */
  expiresAt: number;
}

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'closed';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Why the latest connection attempt failed (`ATTUNE_ERR_UNAUTHORIZED`, or `ATTUNE_CLIENT_UNREACHABLE` for a network failure); null once connected. */
  error: ServerError | null;
}

/** Codes of the errors the library itself raises (the server's are ATTUNE_ERR_...). */
export const ClientErrorCodes = {
  /** The queue was full: the oldest queued event was dropped to make room for a new one. */
  QUEUE_FULL: 'ATTUNE_CLIENT_QUEUE_FULL',
  /** close() was called before the event or identify was acknowledged. */
  CLOSED: 'ATTUNE_CLIENT_CLOSED',
  /** The event was refused before it was sent (its eventType or itemId breaks the server's rules). */
  INVALID_EVENT: 'ATTUNE_CLIENT_INVALID_EVENT',
  /** The server could not be reached (network error, server down). */
  UNREACHABLE: 'ATTUNE_CLIENT_UNREACHABLE',
  /** getToken threw or returned something that is not a token. */
  TOKEN_FAILED: 'ATTUNE_CLIENT_TOKEN_FAILED',
} as const;

/** Rejections of track() and identify(): a server refusal (its code) or one of ClientErrorCodes. */
export class AttuneClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AttuneClientError';
  }
}
