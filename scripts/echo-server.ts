/**
 * The benchmark's baseline: a bare socket.io 4.8 server that speaks Attune's socket protocol
 * and does no work. On connect it sends a fixed 20-item list; on each `event` it acks with a
 * generated eventId and pushes a list of the same shape caused by that event. Whatever Attune
 * adds on top of this is the cost of its own pipeline, not of socket.io, JSON or loopback TCP.
 *
 * usage: node dist/scripts/echo-server.js --port N [--host 127.0.0.1]
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { demoCatalog } from '../src/demo/catalog.js';
import type { AckReply, BenchEvent, RecommendationsPush, ServerToClient } from './bench-lib/protocol.js';

interface EchoClientToServer {
  event: (event: BenchEvent, ack?: (reply: AckReply) => void) => void;
}

function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i === -1) return undefined;
  const arg = argv[i];
  return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
}

const port = Number(argValue(process.argv.slice(2), 'port') ?? '0');
const host = argValue(process.argv.slice(2), 'host') ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`echo-server: --port must be an integer from 0 to 65535`);
  process.exit(2);
}

// Same items and score magnitudes as a real push, so both servers serialize the same bytes.
const ITEMS: RecommendationsPush['items'] = demoCatalog()
  .slice(0, 20)
  .map((item, i) => ({ itemId: item.itemId, score: 1 / (i + 1.37) }));

function push(cause: RecommendationsPush['cause']): RecommendationsPush {
  return { items: ITEMS, recommendationId: randomUUID(), modelVersion: 'echo-baseline', arm: 'live', cause };
}

const http = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  } else {
    res.writeHead(404).end();
  }
});
const io = new Server<EchoClientToServer, ServerToClient>(http, { transports: ['websocket'], serveClient: false });

io.on('connection', (socket) => {
  // Attune's eventIds are `<ms>-<seq>` per session; the echo mints them the same way.
  let seq = 0;
  socket.emit('recommendations', push(null));
  socket.on('event', (event, ack) => {
    if (typeof event?.itemId !== 'string' || typeof event.eventType !== 'string') {
      ack?.({ ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: 'event is invalid' } });
      return;
    }
    const eventId = `${Date.now()}-${seq++}`;
    ack?.({ ok: true, eventId });
    socket.emit('recommendations', push({ eventId, eventType: event.eventType, itemId: event.itemId }));
  });
});

http.listen(port, host, () => {
  const address = http.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  console.log(`echo-server: listening on http://${host}:${bound}`);
});

const shutdown = (): void => {
  io.close();
  http.close(() => process.exit(0));
  // Open websockets can hold close() up; the baseline has nothing to flush.
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
