import { io, type Socket } from 'socket.io-client';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { newEventId } from './event-id.js';
import { EventQueue, type QueuedEvent } from './queue.js';
import { holdToken, needsRefresh, refreshAtMs, type HeldToken } from './token.js';
import { AttuneClientError, ClientErrorCodes, type ConnectionState, type ConnectionStatus, type IdentifyAck, type Recommendations, type ServerError, type StorageLike, type TokenGrant, type TrackAck } from './types.js';

export interface AttuneOptions {
  /** The Attune server, e.g. `https://attune.example.com` (a page served by Attune itself: `location.origin`). */
  url: string;
  /**
   * Asks your backend for a socket token (your backend calls Attune's POST /v1/tokens with its
   * API key and returns its body, `{token, expiresAt}`; a bare token string also works). Called
   * before the first connect, ahead of each token's expiry, and again whenever the server refuses
   * a token with ATTUNE_ERR_UNAUTHORIZED. Give exactly one of getToken and devSession.
   */
  getToken?: () => Promise<TokenGrant | string> | TokenGrant | string;
  /** Development servers (`attune serve --dev`) only: connect as this session without a token. */
  devSession?: { sessionId: string; userId?: string };
  /** Where unacknowledged events survive a reload: window.localStorage when it exists, unless given; null keeps them in memory. */
  storage?: StorageLike | null;
  /** The storage key of the queue (default `attune.queue`). Tabs sharing a storage need different keys. */
  storageKey?: string;
  /** The most unacknowledged events kept (default 1000); a new event beyond it drops the oldest. */
  maxQueued?: number;
  /** How long to wait for an ack before sending the same event again (default 10 000 ms). */
  ackTimeoutMs?: number;
  /** Reconnect and resend waits (default base 500 ms, factor 2, at most 30 s, with jitter). */
  backoff?: Partial<BackoffOptions>;
  /** The socket.io path on the server (default `/socket.io`). */
  path?: string;
}

/** Optional fields of an event (README: Socket protocol). */
export interface TrackOptions {
  /** A JSON object of at most 1 KB as JSON. */
  properties?: Record<string, unknown>;
  eventValue?: number;
  /** Item ids shown alongside this event, at most 100. */
  impression?: string[];
  /** The list this event responds to: a push's recommendationId. */
  recommendationId?: string;
}

type EventReply = { ok: true; eventId?: string; optedOut?: true } | { ok: false; error: ServerError };
type IdentifyReply = { ok: true; optedOut?: true } | { ok: false; error: ServerError };

interface ServerToClient {
  recommendations: (push: Recommendations) => void;
}
interface ClientToServer {
  event: (event: QueuedEvent, ack: (reply: EventReply) => void) => void;
  identify: (payload: { userId: string }, ack: (reply: IdentifyReply) => void) => void;
}

interface Deferred<T> {
  resolve: (value: T) => void;
  reject: (reason: AttuneClientError) => void;
}

type Timer = ReturnType<typeof setTimeout>;

const UNAUTHORIZED = 'ATTUNE_ERR_UNAUTHORIZED';
const FORBIDDEN = 'ATTUNE_ERR_FORBIDDEN';
const EVENT_TYPE = /^[A-Za-z0-9_.:-]{1,64}$/;
const ID_MAX = 256;
/** setTimeout's longest delay; a later refresh is re-armed when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/** Connects at once; see AttuneClient. */
export function createAttune(options: AttuneOptions): AttuneClient {
  return new AttuneClient(options);
}

/**
 * One connection to Attune for one session: tracks events through a persisted queue (each event
 * keeps the id it was given on every resend, one in flight at a time so the server sees them in
 * order), keeps the latest pushed list, and reconnects with backoff, refreshing its token.
 */
export class AttuneClient {
  private readonly socket: Socket<ServerToClient, ClientToServer>;
  private readonly queue: EventQueue;
  private readonly getToken: AttuneOptions['getToken'];
  private devSession: AttuneOptions['devSession'];
  private readonly backoff: BackoffOptions;
  private readonly ackTimeoutMs: number;
  private readonly waiting = new Map<string, Deferred<TrackAck>>();
  private readonly connectWaiters = new Set<Deferred<void>>();
  /** Told the outcome of the next connection attempt: connected, refused, or no token. */
  private readonly attemptWaiters = new Set<Deferred<void>>();
  private readonly recommendationListeners = new Set<(push: Recommendations) => void>();
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private latest: Recommendations | null = null;
  private currentStatus: ConnectionStatus = { state: 'connecting', error: null };
  private held: HeldToken | null = null;
  private tokenFetch: Promise<void> | null = null;
  private connectAttempt = 0;
  private resendAttempt = 0;
  private reconnectTimer: Timer | undefined;
  private refreshTimer: Timer | undefined;
  private resendTimer: Timer | undefined;
  /** The eventId of the event sent and not yet answered. */
  private inFlight: string | null = null;
  private opening = false;
  private closed = false;

  constructor(options: AttuneOptions) {
    if ((options.getToken === undefined) === (options.devSession === undefined)) throw new TypeError('createAttune needs exactly one of getToken and devSession');
    this.getToken = options.getToken;
    this.devSession = options.devSession;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.queue = new EventQueue({ capacity: options.maxQueued ?? 1000, storage: options.storage === undefined ? browserStorage() : options.storage, key: options.storageKey ?? 'attune.queue' });
    // Reconnection is ours (backoff, a fresh token first): socket.io's own does not retry a refused handshake.
    this.socket = io(options.url, {
      transports: ['websocket'],
      reconnection: false,
      autoConnect: false,
      forceNew: true,
      ...(options.path === undefined ? {} : { path: options.path }),
      auth: (send) => send(this.authPayload()),
    });
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('connect_error', (err) => this.onConnectError(err));
    this.socket.on('disconnect', (reason) => this.onDisconnect(reason));
    this.socket.on('recommendations', (push) => this.onRecommendationsPush(push));
    void this.open();
  }

  /** The latest list pushed; null before the first. */
  get recommendations(): Recommendations | null {
    return this.latest;
  }

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** Events tracked and not yet acknowledged (including those restored from storage). */
  get queued(): number {
    return this.queue.size;
  }

  /**
   * Queues an event and sends it as soon as the socket is up and the events before it are
   * acknowledged. Resolves with the server's ack; rejects with an AttuneClientError when the
   * server refuses it for good (its code, e.g. ATTUNE_ERR_VALIDATION), when it is dropped from a
   * full queue, or on close(). Retryable refusals (rate limited, not ready) and lost acks are sent
   * again, with the same eventId. Ignoring the promise is fine: its rejection is not reported as
   * unhandled.
   */
  track(eventType: string, itemId: string, options: TrackOptions = {}): Promise<TrackAck> {
    if (this.closed) return quietly(Promise.reject(new AttuneClientError(ClientErrorCodes.CLOSED, 'the client is closed')));
    const problem = eventProblem(eventType, itemId);
    if (problem !== null) return quietly(Promise.reject(new AttuneClientError(ClientErrorCodes.INVALID_EVENT, problem)));
    // A JSON copy: what is sent first is exactly what a resend from storage sends.
    const extra = JSON.parse(JSON.stringify(options)) as TrackOptions;
    const event: QueuedEvent = { eventId: newEventId(), eventType, itemId, sentAt: Date.now(), ...pickEventFields(extra) };
    const acked = quietly(new Promise<TrackAck>((resolve, reject) => this.waiting.set(event.eventId, { resolve, reject })));
    for (const dropped of this.queue.push(event)) {
      this.settle(dropped.eventId, new AttuneClientError(ClientErrorCodes.QUEUE_FULL, `the queue holds at most ${this.queue.size} events: the oldest was dropped`));
    }
    this.flush();
    return acked;
  }

  /**
   * Links this session to a signed-in user (sent once connected). With tokens, the socket may
   * only identify as its token's user: when the server answers ATTUNE_ERR_FORBIDDEN, this asks
   * getToken for a fresh token (your backend now knows the user), reconnects with it and tries once more.
   */
  async identify(userId: string): Promise<IdentifyAck> {
    let reply = await this.sendIdentify(userId);
    if (!reply.ok && reply.error.code === FORBIDDEN && this.getToken !== undefined) {
      await this.reconnectWithFreshToken();
      reply = await this.sendIdentify(userId);
    }
    if (!reply.ok) throw new AttuneClientError(reply.error.code, reply.error.message);
    // A reconnect in development mode names the user itself, as a token naming the user does.
    if (this.devSession !== undefined) this.devSession = { ...this.devSession, userId };
    return reply.optedOut === true ? { ok: true, optedOut: true } : { ok: true };
  }

  /** Calls `listener` with each pushed list; returns the unsubscribe. `recommendations` has the latest. */
  onRecommendations(listener: (push: Recommendations) => void): () => void {
    this.recommendationListeners.add(listener);
    return () => void this.recommendationListeners.delete(listener);
  }

  /** Calls `listener` on each change of the connection status; returns the unsubscribe. */
  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => void this.statusListeners.delete(listener);
  }

  /**
   * Disconnects for good. Pending track() and identify() promises reject with
   * ATTUNE_CLIENT_CLOSED; the unacknowledged events stay in storage, for the next client with
   * the same storage key.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of [this.reconnectTimer, this.refreshTimer, this.resendTimer]) clearTimeout(timer);
    this.socket.disconnect();
    const closed = new AttuneClientError(ClientErrorCodes.CLOSED, 'the client was closed');
    for (const eventId of [...this.waiting.keys()]) this.settle(eventId, closed);
    for (const waiter of [...this.connectWaiters, ...this.attemptWaiters]) waiter.reject(closed);
    this.connectWaiters.clear();
    this.attemptWaiters.clear();
    this.setStatus('closed', null);
  }

  private authPayload(): Record<string, string> {
    if (this.devSession !== undefined) return this.devSession.userId === undefined ? { sessionId: this.devSession.sessionId } : { sessionId: this.devSession.sessionId, userId: this.devSession.userId };
    // Empty only if the token was dropped between open() and the handshake: the server refuses it, and the refusal fetches another.
    return { token: this.held?.token ?? '' };
  }

  private async open(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.closed || this.opening || this.socket.connected) return;
    this.opening = true;
    this.setStatus('connecting', this.currentStatus.error);
    try {
      if (this.getToken !== undefined && needsRefresh(this.held, Date.now())) await this.refreshToken();
    } catch (err) {
      const failure = { code: ClientErrorCodes.TOKEN_FAILED, message: err instanceof Error ? err.message : String(err) };
      this.setStatus('offline', failure);
      this.attemptFailed(failure);
      this.scheduleReconnect();
      return;
    } finally {
      this.opening = false;
    }
    if (!this.closed) this.socket.connect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    this.reconnectTimer = setTimeout(() => void this.open(), backoffDelay(this.connectAttempt++, this.backoff, Math.random()));
  }

  /** One fetch at a time; arms the next refresh ahead of the new token's expiry. */
  private refreshToken(): Promise<void> {
    const getToken = this.getToken;
    if (getToken === undefined) return Promise.resolve();
    this.tokenFetch ??= (async () => {
      try {
        const held = holdToken(await getToken(), Date.now());
        if (held === null) throw new AttuneClientError(ClientErrorCodes.TOKEN_FAILED, 'getToken must return {token, expiresAt} (POST /v1/tokens) or a token string');
        this.held = held;
        this.armRefresh(held);
      } finally {
        this.tokenFetch = null;
      }
    })();
    return this.tokenFetch;
  }

  private armRefresh(held: HeldToken): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const at = refreshAtMs(held);
    if (at === null || this.closed) return;
    this.refreshTimer = setTimeout(
      () => {
        this.refreshTimer = undefined;
        if (!needsRefresh(this.held, Date.now())) return void (this.held !== null && this.armRefresh(this.held));
        // A failed refresh is tried again by the next connect, which needs a valid token.
        this.refreshToken().catch(() => {});
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
    );
  }

  /** Resolves once connected with a new token; rejects with the refusal if the server refuses it. */
  private async reconnectWithFreshToken(): Promise<void> {
    const outcome = new Promise<void>((resolve, reject) => this.attemptWaiters.add({ resolve, reject }));
    this.held = null;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    // A client-side disconnect: onDisconnect leaves the reconnect to us.
    this.socket.disconnect();
    await this.open();
    await outcome;
  }

  private attemptFailed(error: ServerError): void {
    for (const waiter of this.attemptWaiters) waiter.reject(new AttuneClientError(error.code, error.message));
    this.attemptWaiters.clear();
  }

  private onConnect(): void {
    this.connectAttempt = 0;
    // A new connection is a new chance: a resend waiting out a backoff from the old one goes now.
    clearTimeout(this.resendTimer);
    this.resendTimer = undefined;
    this.setStatus('online', null);
    for (const waiter of [...this.connectWaiters, ...this.attemptWaiters]) waiter.resolve();
    this.connectWaiters.clear();
    this.attemptWaiters.clear();
    this.flush();
  }

  private onConnectError(err: Error): void {
    const data: unknown = (err as Error & { data?: unknown }).data;
    const refusal = isServerError(data) ? data : null;
    // The token expired or the secret changed (unauthorized), or the session is now a user's that
    // the token does not name (forbidden): the next attempt starts with a fresh token.
    if ((refusal?.code === UNAUTHORIZED || refusal?.code === FORBIDDEN) && this.getToken !== undefined) this.held = null;
    const error = refusal ?? { code: ClientErrorCodes.UNREACHABLE, message: err.message };
    this.setStatus('offline', error);
    this.attemptFailed(error);
    this.scheduleReconnect();
  }

  private onDisconnect(reason: string): void {
    if (this.closed) return;
    this.setStatus('offline', null);
    // Ours (close, or a reconnect with a fresh token): whoever disconnected reconnects.
    if (reason === 'io client disconnect') return;
    this.scheduleReconnect();
  }

  private onRecommendationsPush(push: Recommendations): void {
    this.latest = push;
    for (const listener of [...this.recommendationListeners]) listener(push);
  }

  /** Sends the oldest queued event, once connected and nothing else is awaiting its ack. */
  private flush(): void {
    if (this.closed || this.inFlight !== null || this.resendTimer !== undefined || !this.socket.connected) return;
    const next = this.queue.peek();
    if (next === undefined) return;
    this.inFlight = next.eventId;
    this.socket.timeout(this.ackTimeoutMs).emit('event', next, (err: Error | null, reply: EventReply) => {
      this.inFlight = null;
      if (this.closed) return;
      // No answer: the socket dropped (the connect flushes again) or the ack timed out. Either way
      // the server may have stored it; the same eventId goes again.
      if (err) return this.resendLater();
      if (!reply.ok && reply.error.retryable === true) return this.resendLater();
      this.resendAttempt = 0;
      this.queue.remove(next.eventId);
      if (reply.ok) this.settle(next.eventId, reply.optedOut === true ? { ok: true, optedOut: true, clientEventId: next.eventId } : { ok: true, ...(reply.eventId === undefined ? {} : { eventId: reply.eventId }), clientEventId: next.eventId });
      else this.settle(next.eventId, new AttuneClientError(reply.error.code, reply.error.message));
      this.flush();
    });
  }

  private resendLater(): void {
    if (!this.socket.connected) return;
    this.resendTimer = setTimeout(
      () => {
        this.resendTimer = undefined;
        this.flush();
      },
      backoffDelay(this.resendAttempt++, this.backoff, Math.random()),
    );
  }

  private settle(eventId: string, outcome: TrackAck | AttuneClientError): void {
    const waiter = this.waiting.get(eventId);
    if (waiter === undefined) return; // restored from storage, or settled already
    this.waiting.delete(eventId);
    if (outcome instanceof AttuneClientError) waiter.reject(outcome);
    else waiter.resolve(outcome);
  }

  private connected(): Promise<void> {
    if (this.closed) return Promise.reject(new AttuneClientError(ClientErrorCodes.CLOSED, 'the client is closed'));
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => this.connectWaiters.add({ resolve, reject }));
  }

  /** Sends identify once connected; again after a lost ack or a retryable refusal. */
  private async sendIdentify(userId: string): Promise<IdentifyReply> {
    for (let attempt = 0; ; attempt++) {
      await this.connected();
      const reply = await new Promise<IdentifyReply | null>((resolve) => this.socket.timeout(this.ackTimeoutMs).emit('identify', { userId }, (err: Error | null, answer: IdentifyReply) => resolve(err ? null : answer)));
      if (reply !== null && (reply.ok || reply.error.retryable !== true)) return reply;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, this.backoff, Math.random())));
    }
  }

  private setStatus(state: ConnectionState, error: ServerError | null): void {
    const current = this.currentStatus;
    if (current.state === state && current.error?.code === error?.code && current.error?.message === error?.message) return;
    this.currentStatus = { state, error };
    for (const listener of [...this.statusListeners]) listener(this.currentStatus);
  }
}

function browserStorage(): StorageLike | null {
  try {
    return (globalThis as { localStorage?: StorageLike }).localStorage ?? null;
  } catch {
    // A sandboxed frame or disabled cookies: reading localStorage throws.
    return null;
  }
}

/** Marks a promise handled, so that a caller ignoring it is not told of its rejection; awaiting it still throws. */
function quietly<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function eventProblem(eventType: string, itemId: string): string | null {
  if (typeof eventType !== 'string' || !EVENT_TYPE.test(eventType)) return 'eventType must be 1 to 64 characters of A-Z a-z 0-9 _ . : -';
  if (typeof itemId !== 'string' || itemId.length < 1 || itemId.length > ID_MAX) return `itemId must be 1 to ${ID_MAX} characters`;
  return null;
}

function pickEventFields(options: TrackOptions): Omit<QueuedEvent, 'eventId' | 'eventType' | 'itemId' | 'sentAt'> {
  return {
    ...(options.properties === undefined ? {} : { properties: options.properties }),
    ...(options.eventValue === undefined ? {} : { eventValue: options.eventValue }),
    ...(options.impression === undefined ? {} : { impression: options.impression }),
    ...(options.recommendationId === undefined ? {} : { recommendationId: options.recommendationId }),
  };
}

function isServerError(value: unknown): value is ServerError {
  return typeof value === 'object' && value !== null && typeof (value as ServerError).code === 'string' && typeof (value as ServerError).message === 'string';
}
