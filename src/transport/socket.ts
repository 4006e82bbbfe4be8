import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { ActorHost, RecommendationsPush } from '../actors/actor-host.js';
import { sessionKey, type IncomingEvent } from '../session/events.js';
import { AttuneError, errorBody, fromStoreFailure, type ErrorBody } from '../errors.js';
import type { Metrics } from '../ops/metrics.js';
import type { ConsentGate } from '../privacy/consent-gate.js';
import type { Pseudonyms } from '../privacy/pseudonyms.js';
import { verifySocketToken } from '../security/socket-tokens.js';
import type { Ingest, SessionLimits } from '../serving/index.js';
import { bodyAjv, describeErrors, eventSchema, identifySchema, socketAuthSchema, socketTokenAuthSchema } from './schemas.js';

/** The socket protocol: what each side may send. */
export interface ServerToClient {
  recommendations: (push: RecommendationsPush) => void;
}

export type Ack = (reply: { ok: true; eventId?: string; optedOut?: true } | { ok: false; error: ErrorBody }) => void;

export interface ClientToServer {
  event: (event: IncomingEvent, ack?: Ack) => void;
  identify: (payload: { userId: string }, ack?: Ack) => void;
}

interface SocketData {
  sessionId: string;
  /** The pseudonym of the user the socket is for. */
  userId: string | null;
  /** Which user the socket may identify as: the token's, or anyone in development mode. */
  mayIdentifyAs: string | 'anyone' | null;
  /** The user opted out: the socket's events are dropped, its lists are not personalized. */
  optedOut: boolean;
}

export type AttuneSocketServer = Server<ClientToServer, ServerToClient, Record<string, never>, SocketData>;
type AttuneSocket = Socket<ClientToServer, ServerToClient, Record<string, never>, SocketData>;

const validateEvent = bodyAjv.compile<IncomingEvent>(eventSchema);
const validateIdentify = bodyAjv.compile<{ userId: string }>(identifySchema);
const validateAuth = bodyAjv.compile<{ sessionId: string; userId?: string }>(socketAuthSchema);
const validateTokenAuth = bodyAjv.compile<{ token: string }>(socketTokenAuthSchema);

/** The largest socket.io packet a client may send: an event is well under 4 KB. */
export const SOCKET_MAX_MESSAGE_BYTES = 64 * 1024;

export interface SocketDeps {
  host: ActorHost;
  /** Verifies socket tokens (POST /v1/tokens). */
  tokenSecret: string;
  /** Also accept bare `{ sessionId, userId? }` auth, with no token (development mode only). */
  acceptBareSessions: boolean;
  pseudonyms: Pseudonyms;
  consent: ConsentGate;
  /** Where events come in (rate limit, consent, the log). */
  ingest: Ingest;
  /** The session's bucket, which connects and identify draw on too. */
  sessionLimits: SessionLimits;
  now: () => number;
  /** socket.io's adapter factory: the Redis one makes rooms span nodes. */
  adapter?: ServerOptions['adapter'];
  metrics: Metrics;
  onError: (err: unknown, context: string) => void;
  /** Hears every list a socket of this node is sent, on connect and pushed (online metrics); not an opted-out user's. */
  onListed?: (viewer: { sessionId: string; userId: string | null }, push: RecommendationsPush) => void;
  /** True once the node is shutting down: new sockets are refused (retryable) so they connect elsewhere. */
  draining: () => boolean;
}

/** The socket server and how it ends: messages in flight are answered before any socket is closed. */
export interface SocketGateway {
  io: AttuneSocketServer;
  /**
   * Answers new messages with a retryable NOT_READY (the client sends them to another node), waits
   * until every message in flight has its ack, then disconnects this node's sockets and closes.
   */
  close(): Promise<void>;
}

export function createSocketServer(httpServer: HttpServer, deps: SocketDeps): SocketGateway {
  // WebSocket only: no long-polling, so no sticky sessions are needed behind a load balancer.
  const io: AttuneSocketServer = new Server(httpServer, {
    transports: ['websocket'],
    serveClient: true,
    maxHttpBufferSize: SOCKET_MAX_MESSAGE_BYTES,
    ...(deps.adapter === undefined ? {} : { adapter: deps.adapter }),
  });

  const refuse = (next: (err?: Error) => void, err: AttuneError): void => next(Object.assign(new Error(err.message), { data: { code: err.code, message: err.message } }));
  const admit = async (socket: AttuneSocket, next: (err?: Error) => void, data: SocketData): Promise<void> => {
    // A connection costs what an event does (a list, maybe a model run): it draws on the session's bucket.
    const limited = deps.sessionLimits.take(data.sessionId, 'socket');
    if (limited !== null) return refuse(next, limited);
    if (data.mayIdentifyAs === null) {
      // A token naming no user must not reach the user a session was identified as (a shared computer after a logout).
      let key: string;
      try {
        key = await deps.host.resolveKey({ sessionId: data.sessionId });
      } catch (err) {
        return refuse(next, ackErrorOf(err, deps));
      }
      if (key !== sessionKey(data.sessionId)) {
        deps.metrics.refusals.inc({ transport: 'socket', reason: 'forbidden' });
        return refuse(next, new AttuneError('FORBIDDEN', 'this session is identified as a user: its token must name that user'));
      }
    }
    socket.data = data;
    next();
  };
  io.use((socket, next) => {
    if (deps.draining()) return refuse(next, new AttuneError('NOT_READY', 'this node is shutting down: connect to another'));
    const auth: unknown = socket.handshake.auth;
    if (validateTokenAuth(auth)) {
      const verified = verifySocketToken(deps.tokenSecret, auth.token, Math.floor(deps.now() / 1000));
      if (!verified.ok) {
        deps.metrics.refusals.inc({ transport: 'socket', reason: 'unauthorized' });
        return refuse(next, new AttuneError('UNAUTHORIZED', `socket token refused: ${verified.reason}`));
      }
      const { sessionId, userId } = verified.claims;
      return void admit(socket, next, { sessionId, userId: userId ?? null, mayIdentifyAs: userId ?? null, optedOut: false });
    }
    if (!deps.acceptBareSessions) {
      deps.metrics.refusals.inc({ transport: 'socket', reason: 'unauthorized' });
      return refuse(next, new AttuneError('UNAUTHORIZED', 'auth must be { token } with a token from POST /v1/tokens'));
    }
    if (!validateAuth(auth)) return refuse(next, new AttuneError('VALIDATION', describeErrors(validateAuth.errors, 'auth')));
    const userId = auth.userId === undefined ? null : deps.pseudonyms.user(auth.userId);
    void admit(socket, next, { sessionId: auth.sessionId, userId, mayIdentifyAs: 'anyone', optedOut: false });
  });

  let closing = false;
  const inFlight = new Set<Promise<void>>();
  /** Runs a message's handler unless the gateway is closing, and counts it in flight until it acked. */
  const handle = (args: unknown[], run: (payload: unknown, ack: unknown) => Promise<void>): void => {
    const { payload, ack } = splitArgs(args);
    if (closing) {
      if (typeof ack === 'function') (ack as Ack)({ ok: false, error: errorBody(new AttuneError('NOT_READY', 'this node is shutting down: send it again on another')) });
      return;
    }
    const work = run(payload, ack);
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  io.on('connection', (socket) => {
    deps.metrics.socketConnections.inc();
    socket.on('disconnect', () => deps.metrics.socketConnections.dec());
    const { onListed } = deps;
    // Pushes to the socket's rooms, from this node or through the adapter from another, pass here too.
    if (onListed !== undefined) {
      socket.onAnyOutgoing((name: unknown, payload: unknown) => {
        if (name === 'recommendations' && !socket.data.optedOut) onListed({ sessionId: socket.data.sessionId, userId: socket.data.userId }, payload as RecommendationsPush);
      });
    }
    // Messages wait for the welcome: until it has checked consent and linked the session, the socket's key is not settled.
    const welcomed = welcome(socket, deps);
    // Untyped at the wire: a client may send no payload, several, or no ack at all.
    socket.on('event', (...args: unknown[]) => handle(args, (payload, ack) => welcomed.then(() => handleEvent(socket, payload, ack, deps))));
    socket.on('identify', (...args: unknown[]) => handle(args, (payload, ack) => welcomed.then(() => handleIdentify(socket, payload, ack, deps))));
    // Any other message is a client bug (a typo'd name): say so in its ack rather than drop it silently.
    socket.onAny((name: unknown, ...args: unknown[]) => {
      if (name === 'event' || name === 'identify') return;
      const { ack } = splitArgs(args);
      if (typeof ack !== 'function') return;
      (ack as Ack)({ ok: false, error: errorBody(new AttuneError('VALIDATION', `unknown message ${JSON.stringify(name)}: a socket sends event or identify`)) });
    });
  });

  return {
    io,
    close: async () => {
      closing = true;
      await Promise.allSettled([...inFlight]);
      // This node's sockets only (not the adapter's broadcast): each client reconnects, to another node.
      io.local.disconnectSockets(true);
      // Not awaited: the HTTP server it also closes is fastify's, which closes it (and its keep-alive connections) next.
      void io.close();
    },
  };
}

/** The ack is the last argument when it is a function; a message carries exactly one payload. */
function splitArgs(args: unknown[]): { payload: unknown; ack: unknown } {
  const ack = typeof args.at(-1) === 'function' ? args.at(-1) : undefined;
  const payloads = ack === undefined ? args : args.slice(0, -1);
  // Anything but one payload fails validation below, with the same error as a bad payload.
  return { payload: payloads.length === 1 ? payloads[0] : undefined, ack };
}

async function welcome(socket: AttuneSocket, deps: SocketDeps): Promise<void> {
  const { sessionId, userId } = socket.data;
  try {
    await socket.join(sessionKey(sessionId));
    if (userId !== null && (await deps.consent.optedOut(userId))) {
      // Not linked, not stored: the socket sees the lists of a visitor with no history.
      socket.data.optedOut = true;
      socket.emit('recommendations', await deps.host.anonymousList());
      return;
    }
    const key = userId !== null ? await deps.host.identify(sessionId, userId) : await deps.host.resolveKey({ sessionId });
    if (key !== sessionKey(sessionId)) await socket.join(key);
    await sendCurrentList(socket, key, deps);
  } catch (err) {
    deps.onError(err, `socket connect ${sessionId}`);
    socket.disconnect(true);
  }
}

async function sendCurrentList(socket: AttuneSocket, key: string, deps: SocketDeps): Promise<void> {
  const stop = deps.metrics.recommendationLatency.startTimer({ route: 'socket' });
  const push = await deps.host.listOnConnect(key, socket.data.userId);
  stop({ arm: push.arm });
  socket.emit('recommendations', push);
}

async function handleEvent(socket: AttuneSocket, payload: unknown, ack: unknown, deps: SocketDeps): Promise<void> {
  const reply = typeof ack === 'function' ? (ack as Ack) : () => {};
  if (!validateEvent(payload)) {
    deps.metrics.putEventsRequests.inc({ transport: 'socket', outcome: 'rejected' });
    return reply({ ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: describeErrors(validateEvent.errors, 'event') } });
  }
  const { sessionId, userId, optedOut } = socket.data;
  try {
    // The session was linked to its user when the socket was welcomed or identified.
    const accepted = await deps.ingest.accept({ via: 'socket', sessionId, userId, link: false, optedOut }, [payload]);
    if (accepted.optedOut === true) {
      socket.data.optedOut = true;
      return reply({ ok: true, optedOut: true });
    }
    reply({ ok: true, eventId: accepted.eventIds[0] });
  } catch (err) {
    reply({ ok: false, error: ackError(err, deps) });
  }
}

async function handleIdentify(socket: AttuneSocket, payload: unknown, ack: unknown, deps: SocketDeps): Promise<void> {
  const reply = typeof ack === 'function' ? (ack as Ack) : () => {};
  if (!validateIdentify(payload)) {
    return reply({ ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: describeErrors(validateIdentify.errors, 'identify') } });
  }
  const limited = deps.sessionLimits.take(socket.data.sessionId, 'socket');
  if (limited !== null) return reply({ ok: false, error: errorBody(limited) });
  const userId = deps.pseudonyms.user(payload.userId);
  const { mayIdentifyAs } = socket.data;
  // A socket may only become the user its token names: anything else would let it read another user's pushes.
  if (mayIdentifyAs !== 'anyone' && mayIdentifyAs !== userId) {
    deps.metrics.refusals.inc({ transport: 'socket', reason: 'forbidden' });
    return reply({ ok: false, error: errorBody(new AttuneError('FORBIDDEN', 'identify must name the user of the socket token; sign in with a new token instead')) });
  }
  try {
    const { sessionId } = socket.data;
    if (await deps.consent.optedOut(userId)) {
      socket.data.optedOut = true;
      return reply({ ok: true, optedOut: true });
    }
    // Linking moves every socket of this session (other tabs, other nodes) into the user's room (server/transport.ts).
    const key = await deps.host.identify(sessionId, userId);
    socket.data.userId = userId;
    await socket.join(key);
    reply({ ok: true });
    await sendCurrentList(socket, key, deps);
  } catch (err) {
    reply({ ok: false, error: ackError(err, deps) });
  }
}

function ackError(err: unknown, deps: SocketDeps): ErrorBody {
  return errorBody(ackErrorOf(err, deps));
}

function ackErrorOf(err: unknown, deps: SocketDeps): AttuneError {
  if (err instanceof AttuneError) return err;
  const unavailable = fromStoreFailure(err);
  if (unavailable !== null) return unavailable;
  deps.onError(err, 'socket message');
  return new AttuneError('INTERNAL', 'internal error');
}
