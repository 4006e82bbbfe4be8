import type { Server as HttpServer } from 'node:http';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { ActorHost, RecommendationsPush } from '../actors/actor-host.js';
import { sessionKey, userKey, type IncomingEvent } from '../actors/events.js';
import { AttuneError, errorBody, fromStoreFailure, type ErrorBody } from '../errors.js';
import type { Metrics } from '../ops/metrics.js';
import { bodyAjv, describeErrors, eventSchema, identifySchema, socketAuthSchema } from './schemas.js';

/** The socket protocol: what each side may send. */
export interface ServerToClient {
  recommendations: (push: RecommendationsPush) => void;
}

export type Ack = (reply: { ok: true; eventId?: string } | { ok: false; error: ErrorBody }) => void;

export interface ClientToServer {
  event: (event: IncomingEvent, ack?: Ack) => void;
  identify: (payload: { userId: string }, ack?: Ack) => void;
}

interface SocketData {
  sessionId: string;
  userId: string | null;
}

export type AttuneSocketServer = Server<ClientToServer, ServerToClient, Record<string, never>, SocketData>;
type AttuneSocket = Socket<ClientToServer, ServerToClient, Record<string, never>, SocketData>;

const validateEvent = bodyAjv.compile<IncomingEvent>(eventSchema);
const validateIdentify = bodyAjv.compile<{ userId: string }>(identifySchema);
const validateAuth = bodyAjv.compile<{ sessionId: string; userId?: string }>(socketAuthSchema);

export interface SocketDeps {
  host: ActorHost;
  /** socket.io's adapter factory: the Redis one makes rooms span nodes. */
  adapter?: ServerOptions['adapter'];
  metrics: Metrics;
  onError: (err: unknown, context: string) => void;
}

export function createSocketServer(httpServer: HttpServer, deps: SocketDeps): AttuneSocketServer {
  // WebSocket only: no long-polling, so no sticky sessions are needed behind a load balancer.
  const io: AttuneSocketServer = new Server(httpServer, {
    transports: ['websocket'],
    serveClient: true,
    ...(deps.adapter === undefined ? {} : { adapter: deps.adapter }),
  });

  io.use((socket, next) => {
    const auth: unknown = socket.handshake.auth;
    if (!validateAuth(auth)) {
      const err = new AttuneError('VALIDATION', describeErrors(validateAuth.errors, 'auth'));
      return next(Object.assign(new Error(err.message), { data: { code: err.code, message: err.message } }));
    }
    socket.data = { sessionId: auth.sessionId, userId: auth.userId ?? null };
    next();
  });

  io.on('connection', (socket) => {
    deps.metrics.socketConnections.inc();
    socket.on('disconnect', () => deps.metrics.socketConnections.dec());
    socket.on('event', (payload, ack) => void handleEvent(socket, payload, ack, deps));
    socket.on('identify', (payload, ack) => void handleIdentify(io, socket, payload, ack, deps));
    void welcome(socket, deps);
  });

  return io;
}

async function welcome(socket: AttuneSocket, deps: SocketDeps): Promise<void> {
  const { sessionId, userId } = socket.data;
  try {
    await socket.join(sessionKey(sessionId));
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
  stop();
  socket.emit('recommendations', push);
}

async function handleEvent(socket: AttuneSocket, payload: unknown, ack: unknown, deps: SocketDeps): Promise<void> {
  const reply = typeof ack === 'function' ? (ack as Ack) : () => {};
  if (!validateEvent(payload)) {
    deps.metrics.putEventsRequests.inc({ transport: 'socket', outcome: 'rejected' });
    return reply({ ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: describeErrors(validateEvent.errors, 'event') } });
  }
  try {
    const [entry] = await deps.host.ingest({ sessionId: socket.data.sessionId }, [payload]);
    deps.metrics.putEventsRequests.inc({ transport: 'socket', outcome: 'accepted' });
    reply({ ok: true, eventId: entry.eventId });
  } catch (err) {
    deps.metrics.putEventsRequests.inc({ transport: 'socket', outcome: 'rejected' });
    reply({ ok: false, error: ackError(err, deps) });
  }
}

async function handleIdentify(io: AttuneSocketServer, socket: AttuneSocket, payload: unknown, ack: unknown, deps: SocketDeps): Promise<void> {
  const reply = typeof ack === 'function' ? (ack as Ack) : () => {};
  if (!validateIdentify(payload)) {
    return reply({ ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: describeErrors(validateIdentify.errors, 'identify') } });
  }
  try {
    const { sessionId } = socket.data;
    const key = await deps.host.identify(sessionId, payload.userId);
    socket.data.userId = payload.userId;
    // Every socket of this session (other tabs, other nodes) now follows the user.
    io.in(sessionKey(sessionId)).socketsJoin(userKey(payload.userId));
    await socket.join(key);
    reply({ ok: true });
    await sendCurrentList(socket, key, deps);
  } catch (err) {
    reply({ ok: false, error: ackError(err, deps) });
  }
}

function ackError(err: unknown, deps: SocketDeps): ErrorBody {
  if (err instanceof AttuneError) return errorBody(err);
  const unavailable = fromStoreFailure(err);
  if (unavailable !== null) return errorBody(unavailable);
  deps.onError(err, 'socket message');
  return { code: 'ATTUNE_ERR_INTERNAL', message: 'internal error' };
}
