import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { AttuneConfig } from '../config.js';
import { sessionKey, userKey } from '../session/events.js';
import { createHttpApp, type HttpDeps } from '../transport/http.js';
import { servePeers } from '../transport/peers.js';
import { createSocketServer, type AttuneSocketServer, type SocketDeps } from '../transport/socket.js';

/** The node's listening edge: the HTTP API and the socket gateway on one server. */
export interface TransportPart {
  app: FastifyInstance;
  io: AttuneSocketServer;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the HTTP routes and sockets and starts listening; pushes of the actor host go to the sockets' rooms. */
export async function serveTransport(
  config: AttuneConfig,
  http: Omit<HttpDeps, 'webDir'>,
  socket: SocketDeps,
  /** On shared stores: serve the batches other nodes forward to this one as their keys' owner. */
  peers: { secret: string } | null,
): Promise<TransportPart> {
  const app = createHttpApp({ ...http, webDir: findWebDir() });
  const gateway = createSocketServer(app.server, socket);
  const peerServer = peers === null ? null : servePeers(app.server, { host: socket.host, secret: peers.secret, metrics: socket.metrics, onError: socket.onError });
  const { io } = gateway;
  const stopPushes = socket.host.onPush((room, push) => io.to(room).emit('recommendations', push));
  // A session linked to a user (a socket's identify, or the backend's events naming the user) is that
  // user's now: its sockets, here or on other nodes, whatever their token named, get the user's pushes.
  const stopLinks = socket.host.onLinked((sessionId, userId) => io.in(sessionKey(sessionId)).socketsJoin(userKey(userId)));
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const scheme = config.security.tlsCert === null ? 'http' : 'https';
  return {
    app,
    io,
    port,
    url: `${scheme}://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`,
    close: async () => {
      await gateway.close();
      await peerServer?.close();
      stopPushes();
      stopLinks();
      await app.close();
    },
  };
}

/** The web/ folder, both from src/ (tests) and from dist/src/ (built). */
function findWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'src')}`) ? join(here, '..', '..', '..', 'web') : join(here, '..', '..', 'web');
}
