import { timingSafeEqual } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import type { ActorHost, ForwardedEvents, ForwardToOwner } from '../actors/actor-host.js';
import type { Metrics } from '../ops/metrics.js';
import type { InteractionEntry } from '../session/events.js';
import type { PeerDirectory } from '../store/types.js';

/*
 * Node-to-node forwarding: a node that receives events of a key it does not own sends them to
 * the key's owner over one persistent WebSocket per peer, and the owner appends and applies them
 * in one step (no wake note, no read-back). This is the peers' own socket.io server, on its own
 * path of the node's HTTP server, apart from the clients' (no Redis adapter, no client auth).
 */

/** The socket.io path the peer server answers on. */
export const PEER_PATH = '/attune-peers/';
/** A forwarded batch is one session's events (at most the API's batch size), so this bounds it with room to spare. */
const PEER_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** After an owner went silent, its keys' events are appended locally (the wake-note route) for this long before it is tried again. */
const SUSPECT_MS = 5000;
/** A link unused this long is closed (its node may have left). */
const IDLE_LINK_MS = 60_000;

interface ForwardRequest {
  key: string;
  batch: ForwardedEvents;
}

type ForwardReply = { ok: true; entries: InteractionEntry[] } | { ok: true; notOwner: true } | { ok: false; error: string };

export interface PeerServer {
  /** Refuses new batches (their senders append them themselves), waits for those in flight, closes. */
  close(): Promise<void>;
}

/** Serves forwarded batches for the keys this node owns. */
export function servePeers(httpServer: HttpServer, deps: { host: Pick<ActorHost, 'ingestForwarded'>; secret: string; metrics: Metrics; onError: (err: unknown, context: string) => void }): PeerServer {
  // destroyUpgrade off: the clients' socket server on the same HTTP server answers the other upgrades.
  const server = new Server(httpServer, { path: PEER_PATH, transports: ['websocket'], serveClient: false, maxHttpBufferSize: PEER_MAX_MESSAGE_BYTES, destroyUpgrade: false });
  const expected = Buffer.from(deps.secret);
  server.use((socket, next) => {
    const auth: unknown = socket.handshake.auth;
    const secret = typeof auth === 'object' && auth !== null && 'secret' in auth && typeof auth.secret === 'string' ? Buffer.from(auth.secret) : Buffer.alloc(0);
    if (secret.length !== expected.length || !timingSafeEqual(secret, expected)) return next(new Error('not a peer of this deployment'));
    next();
  });
  let closing = false;
  const inFlight = new Set<Promise<void>>();
  server.on('connection', (socket) => {
    socket.on('events', (request: unknown, ack: unknown) => {
      if (typeof ack !== 'function') return;
      const reply = ack as (reply: ForwardReply) => void;
      if (!isForwardRequest(request)) return reply({ ok: false, error: 'not a forwarded batch' });
      // Shutting down: its shards are being handed off, so the sender appends the batch itself.
      if (closing) return reply({ ok: true, notOwner: true });
      const work = deps.host.ingestForwarded(request.key, request.batch).then(
        (entries) => {
          deps.metrics.forwardedBatches.inc({ role: 'owner', outcome: entries === null ? 'not-owner' : 'applied' });
          reply(entries === null ? { ok: true, notOwner: true } : { ok: true, entries });
        },
        (err: unknown) => {
          deps.onError(err, `forwarded events of ${request.key}`);
          reply({ ok: false, error: err instanceof Error ? err.message : String(err) });
        },
      );
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    });
  });
  return {
    close: async () => {
      closing = true;
      await Promise.all(inFlight);
      server.local.disconnectSockets(true);
      // socket.io's close would also close the HTTP server, which the node closes itself.
      server.engine.close();
    },
  };
}

interface PeerLink {
  socket: ClientSocket | null;
  /** A failed connect is reported once per outage, not at every retry. */
  reportedFailure: boolean;
  /** The owner did not answer in time: local appends until then. */
  suspectUntil: number;
  usedAt: number;
}

export interface PeerForwarderOptions {
  nodeId: string;
  /** The node a key should be on by the latest membership (null: unknown). */
  assignedNode: (key: string) => string | null;
  directory: PeerDirectory;
  secret: string;
  timeoutMs: number;
  metrics: Metrics;
  onError: (err: unknown, context: string) => void;
  now?: () => number;
}

/** Sends batches of keys this node does not own to their owners, one socket per peer. */
export class PeerForwarder {
  private readonly links = new Map<string, PeerLink>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: PeerForwarderOptions) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.closeIdleLinks(), IDLE_LINK_MS / 4);
    this.sweeper.unref();
  }

  readonly forward: ForwardToOwner = async (key, batch) => {
    const owner = this.options.assignedNode(key);
    if (owner === null || owner === this.options.nodeId || this.closed) return null;
    const link = this.linkTo(owner);
    // Not connected (yet), or silent lately: append here; the owner hears of it by its wake note.
    if (link.socket === null || !link.socket.connected || link.suspectUntil > this.now()) {
      this.options.metrics.forwardedBatches.inc({ role: 'sender', outcome: 'appended-here' });
      return null;
    }
    let reply: ForwardReply;
    try {
      reply = (await link.socket.timeout(this.options.timeoutMs).emitWithAck('events', { key, batch } satisfies ForwardRequest)) as ForwardReply;
    } catch {
      // The owner may be paused or gone, and may still store the batch later: every event
      // carries a dedup id, so appending here as well stores it once either way.
      link.suspectUntil = this.now() + SUSPECT_MS;
      this.options.metrics.forwardedBatches.inc({ role: 'sender', outcome: 'unanswered' });
      return null;
    }
    if (!reply.ok) throw new Error(`node ${owner} could not take forwarded events: ${reply.error}`);
    if ('notOwner' in reply) {
      this.options.metrics.forwardedBatches.inc({ role: 'sender', outcome: 'not-owner' });
      return null;
    }
    this.options.metrics.forwardedBatches.inc({ role: 'sender', outcome: 'forwarded' });
    return reply.entries;
  };

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const link of this.links.values()) link.socket?.disconnect();
    this.links.clear();
  }

  /** The link to a peer, opening it (in the background) the first time. */
  private linkTo(nodeId: string): PeerLink {
    const existing = this.links.get(nodeId);
    if (existing !== undefined) {
      existing.usedAt = this.now();
      return existing;
    }
    const link: PeerLink = { socket: null, reportedFailure: false, suspectUntil: 0, usedAt: this.now() };
    this.links.set(nodeId, link);
    this.options.directory.urlOf(nodeId).then(
      (url) => {
        if (this.links.get(nodeId) !== link || this.closed) return;
        // Unknown for now: a later batch tries again.
        if (url === null) return void this.links.delete(nodeId);
        link.socket = connect(url, { path: PEER_PATH, transports: ['websocket'], auth: { secret: this.options.secret, from: this.options.nodeId }, reconnectionDelayMax: 2000 });
        link.socket.on('connect', () => (link.reportedFailure = false));
        link.socket.on('connect_error', (err) => {
          if (!link.reportedFailure) this.options.onError(err, `connect to peer ${nodeId} at ${url} (its keys' events are appended here meanwhile)`);
          link.reportedFailure = true;
        });
      },
      (err: unknown) => {
        if (this.links.get(nodeId) === link) this.links.delete(nodeId);
        this.options.onError(err, `look up peer ${nodeId}`);
      },
    );
    return link;
  }

  private closeIdleLinks(): void {
    const cutoff = this.now() - IDLE_LINK_MS;
    for (const [nodeId, link] of this.links) {
      if (link.usedAt >= cutoff) continue;
      link.socket?.disconnect();
      this.links.delete(nodeId);
    }
  }
}

function isForwardRequest(value: unknown): value is ForwardRequest {
  if (typeof value !== 'object' || value === null) return false;
  const { key, batch } = value as { key?: unknown; batch?: unknown };
  if (typeof key !== 'string' || typeof batch !== 'object' || batch === null) return false;
  const { sessionId, userId, events, receivedAt } = batch as Partial<Record<keyof ForwardedEvents, unknown>>;
  return (
    typeof sessionId === 'string' &&
    (userId === null || typeof userId === 'string') &&
    typeof receivedAt === 'number' &&
    Array.isArray(events) &&
    events.every((event: unknown) => typeof event === 'object' && event !== null && typeof (event as { eventType?: unknown }).eventType === 'string' && typeof (event as { itemId?: unknown }).itemId === 'string' && typeof (event as { sentAt?: unknown }).sentAt === 'number')
  );
}
