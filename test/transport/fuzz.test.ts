/**
 * Fuzzes a real server (memory stores, the demo model) with malformed HTTP requests, raw HTTP
 * bytes, socket.io messages, socket auth and raw WebSocket frames, then checks that nothing got a
 * 5xx, that every refusal has Attune's error shape, that the server still serves, and that the
 * events accepted before the run are still in the log, unchanged, with nothing added under their
 * keys but what was sent validly.
 *
 * The inputs come from a seeded PRNG: the seed is printed; FUZZ_SEED=<n> replays a run, and
 * FUZZ_SCALE=<x> multiplies the number of cases.
 */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type { LogEntry } from '../../src/session/events.js';
import { signSocketToken } from '../../src/security/socket-tokens.js';
import type { RunningServer } from '../../src/server/start.js';
import { connectClient, startLocalServer } from '../helpers.js';
import {
  DEMO_ITEMS,
  Rng,
  describe,
  fuzzIds,
  httpCase,
  isErrorBody,
  isErrorResponse,
  parseResponses,
  rawCase,
  readWsFrames,
  socketCase,
  wsCase,
  type HttpCase,
  type HttpContext,
  type JsonObject,
  type ParsedResponse,
  type SocketCase,
  type SocketContext,
  type WsCase,
} from '../support/fuzz-inputs.js';

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
const SCALE = Number(process.env.FUZZ_SCALE ?? '1');
const COUNTS = {
  http: Math.round(7000 * SCALE),
  raw: Math.round(600 * SCALE),
  socket: Math.round(2600 * SCALE),
  ws: Math.round(250 * SCALE),
};
const MASTER_KEY = `fuzz-master-key-${'0123456789abcdef'.repeat(2)}`;
const MIN_MALFORMED = Math.round(10_000 * Math.min(1, SCALE));

console.log(`fuzz seed: ${SEED} (replay with FUZZ_SEED=${SEED})`);
t.comment(`fuzz seed: ${SEED} (replay with FUZZ_SEED=${SEED})`);

// ---------------------------------------------------------------------------------------------
// Findings: what the run saw that it must not have, with the input that caused it

interface Finding {
  kind: string;
  where: string;
  input: string;
  got: string;
}
const findings: Finding[] = [];
const flag = (kind: string, where: string, input: string, got: string): void => {
  findings.push({ kind, where, input, got });
};
/** Things worth reporting that are not failures. */
const notes = new Map<string, number>();
const note = (what: string): void => {
  notes.set(what, (notes.get(what) ?? 0) + 1);
};
const counts = new Map<string, number>();
const count = (what: string): void => {
  counts.set(what, (counts.get(what) ?? 0) + 1);
};

/** Server-side errors (the error handler's 5xx lines, socket handler failures). */
const serverErrors: string[] = [];
function captureServerErrors(server: RunningServer): void {
  // With logging off, fastify's logger (and every request's child) is one shared object.
  const log = server.app.log as unknown as { error: (...args: unknown[]) => void };
  log.error = (...args: unknown[]) => serverErrors.push(describe(args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : a)), 600));
}

async function startFuzzServer(limits: 'raised' | 'default'): Promise<RunningServer> {
  const raised = { rateKeyPerS: 10_000_000, rateKeyBurst: 10_000_000, rateSessionPerS: 1_000_000, rateSessionBurst: 1_000_000 };
  const server = await startLocalServer({ security: { dev: true, masterKey: MASTER_KEY, ...(limits === 'raised' ? raised : {}) } });
  captureServerErrors(server);
  return server;
}

async function pool(total: number, concurrency: number, run: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) await run(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Reply {
  status: number;
  text: string;
  headers: Headers;
}

async function request(server: RunningServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${MASTER_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Checks one HTTP answer: no 5xx, and an error body of Attune's shape. */
function checkHttpAnswer(where: string, input: string, method: string, path: string, status: number, body: string): void {
  if (status >= 500) flag('status >= 500', where, input, `${status} ${body.slice(0, 300)}`);
  // engine.io answers its own path with its own errors; HEAD answers carry no body.
  const engineIo = path.startsWith('/socket.io');
  if (status >= 400 && method !== 'HEAD' && !engineIo && !isErrorResponse(body)) flag(`error body not { error: { code: ATTUNE_ERR_*, message } } but ${shapeOf(body)}`, where, input, `${status} ${body.slice(0, 300)}`);
  if (status >= 400 && engineIo && !isErrorResponse(body)) note(`engine.io refusal on /socket.io (its own error shape): ${status} ${body.slice(0, 80)}`);
}

/** `{ error, message, statusCode }`, `{ error, code: FST_ERR_BAD_URL, ... }`: how a wrong error body looks. */
function shapeOf(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body === '' ? 'an empty body' : 'a body that is not JSON';
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return `JSON ${typeof parsed}`;
  const fields = Object.entries(parsed as Record<string, unknown>).map(([k, v]) => (k === 'code' && typeof v === 'string' ? `code: ${v}` : k));
  return `{ ${fields.join(', ')} }`;
}

function waitForConnect(socket: Socket, timeoutMs: number): Promise<{ outcome: 'connect' | 'connect_error' | 'disconnect' | 'timeout'; data?: unknown; message?: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ outcome: 'timeout' }), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({ outcome: 'connect' });
    });
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      clearTimeout(timer);
      resolve({ outcome: 'connect_error', data: err.data, message: err.message });
    });
    socket.once('disconnect', () => {
      clearTimeout(timer);
      resolve({ outcome: 'disconnect' });
    });
  });
}

function openSocket(server: RunningServer, auth: Record<string, unknown>): Socket {
  return connectSocket(server.url, { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 5000 });
}

async function liveSocket(server: RunningServer, auth: Record<string, unknown>): Promise<Socket> {
  const socket = openSocket(server, auth);
  const { outcome, message } = await waitForConnect(socket, 5000);
  if (outcome !== 'connect') throw new Error(`socket ${JSON.stringify(auth)} did not connect: ${outcome} ${message ?? ''}`);
  return socket;
}

function waitForDisconnect(socket: Socket, timeoutMs: number): Promise<boolean> {
  if (!socket.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('disconnect', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

type Ack = { ok: true; eventId?: string; optedOut?: true } | { ok: false; error: { code: string; message: string } };

function isAck(value: unknown): value is Ack {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  if (v.ok === true) return (v.eventId === undefined || typeof v.eventId === 'string') && (v.optedOut === undefined || v.optedOut === true) && Object.keys(v).every((k) => ['ok', 'eventId', 'optedOut'].includes(k));
  return v.ok === false && isErrorBody(v.error) && Object.keys(v).length === 2;
}

/** Sends `bytes` on a fresh TCP connection, half-closes, and collects what comes back. */
function sendRaw(port: number, bytes: Buffer, timeoutMs: number): Promise<{ data: Buffer; timedOut: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), timedOut }));
    socket.setTimeout(timeoutMs, () => {
      timedOut = true;
      socket.destroy();
    });
    socket.end(bytes);
  });
}

/** How long the upgrade and engine.io's open may take: a busy machine is slow, not wrong. */
const WS_OPEN_TIMEOUT_MS = 10_000;

/**
 * A hand-made WebSocket session on socket.io's path: upgrade, wait for engine.io's open, send
 * frames, then wait `timeoutMs` (from the frames, not the connect) for the server's answer.
 */
function sendWs(port: number, c: WsCase, timeoutMs: number): Promise<{ handshake: ParsedResponse | null; messages: string[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let buffer: Buffer = Buffer.alloc(0);
    let handshake: ParsedResponse | null = null;
    let opened = false;
    const messages: string[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ handshake, messages, closed });
    };
    let timer = setTimeout(() => finish(false), WS_OPEN_TIMEOUT_MS);
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (handshake === null) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        [handshake] = parseResponses(Buffer.concat([buffer.subarray(0, end + 4)]), true);
        buffer = buffer.subarray(end + 4);
        if (handshake?.status !== 101) return finish(false);
      }
      const { frames, rest } = readWsFrames(buffer);
      buffer = rest;
      for (const frame of frames) {
        if (frame.opcode === 0x8) return finish(true);
        if (frame.opcode !== 0x1) continue;
        const text = frame.payload.toString('utf8');
        messages.push(text);
        if (!opened && text.startsWith('0{')) {
          opened = true;
          clearTimeout(timer);
          timer = setTimeout(() => finish(false), timeoutMs);
          for (const f of c.frames) socket.write(f);
        } else if (c.expectConnectReply && (text.startsWith('40') || text.startsWith('44'))) return finish(false);
      }
    });
    socket.write(
      [
        'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1',
        'Host: 127.0.0.1',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        '',
        '',
      ].join('\r\n'),
    );
  });
}

const readLog = (server: RunningServer, key: string): Promise<LogEntry[]> => server.stores.log.read(key, null);

// ---------------------------------------------------------------------------------------------

t.test('with the default rate limits, floods get 429s and rate-limited acks, never a 5xx, and lose nothing acknowledged', async (t) => {
  const server = await startFuzzServer('default');
  t.teardown(() => server.close());
  const started = Date.now();

  // HTTP: 3 sessions x 40 posts of 5 events, against a burst of 60 events per session.
  const accepted = new Map<string, string[]>();
  let limited = 0;
  await pool(120, 32, async (i) => {
    const sessionId = `fz-flood-${i % 3}`;
    const eventList = Array.from({ length: 5 }, (_, k) => ({ eventType: 'view', itemId: DEMO_ITEMS[(i * 5 + k) % DEMO_ITEMS.length] }));
    const res = await request(server, 'POST', '/v1/events', { sessionId, eventList });
    checkHttpAnswer(`flood-http#${i}`, sessionId, 'POST', '/v1/events', res.status, res.text);
    if (res.status === 200) accepted.set(sessionId, [...(accepted.get(sessionId) ?? []), ...(JSON.parse(res.text) as { eventIds: string[] }).eventIds]);
    else if (res.status === 429) {
      limited++;
      const body = JSON.parse(res.text) as { error: { code: string; retryable?: boolean } };
      t.equal(body.error.code, 'ATTUNE_ERR_RATE_LIMITED');
      t.equal(body.error.retryable, true, '429s say the request may be retried');
      t.match(res.headers.get('retry-after') ?? '', /^\d+$/, '429s carry retry-after');
    } else t.fail(`unexpected status ${res.status}: ${res.text}`);
  });
  const elapsedS = (Date.now() - started) / 1000;
  t.ok(limited > 0, `the HTTP flood got ${limited} 429s of 120 requests`);
  for (const [sessionId, ids] of accepted) {
    t.ok(ids.length <= 60 + Math.ceil(20 * elapsedS) + 5, `${sessionId}: ${ids.length} events accepted in ${elapsedS.toFixed(1)} s (burst 60, 20/s)`);
    const logged = (await readLog(server, `s:${sessionId}`)).map((e) => e.eventId);
    t.same([...logged].sort(), [...ids].sort(), `${sessionId}: the log holds exactly the acknowledged events`);
  }

  // Sockets: 2 sessions x 150 events at once.
  const sockets = await Promise.all([0, 1].map((i) => liveSocket(server, { sessionId: `fz-flood-sock-${i}` })));
  t.teardown(() => sockets.forEach((s) => s.close()));
  let rateAcks = 0;
  for (const [i, socket] of sockets.entries()) {
    const acks = await Promise.all(Array.from({ length: 150 }, (_, k) => socket.timeout(10_000).emitWithAck('event', { eventType: 'view', itemId: DEMO_ITEMS[k % DEMO_ITEMS.length] }) as Promise<unknown>));
    const ok: string[] = [];
    for (const ack of acks) {
      if (!isAck(ack)) {
        flag('socket ack not { ok, eventId } | { ok: false, error }', `flood-socket#${i}`, 'valid event', describe(ack));
        continue;
      }
      if (ack.ok) ok.push(ack.eventId ?? '');
      else if (ack.error.code === 'ATTUNE_ERR_RATE_LIMITED') rateAcks++;
      else flag('unexpected socket ack error', `flood-socket#${i}`, 'valid event', describe(ack));
    }
    const logged = (await readLog(server, `s:fz-flood-sock-${i}`)).map((e) => e.eventId);
    t.same([...logged].sort(), [...ok].sort(), `socket ${i}: the log holds exactly the acknowledged events (${ok.length} of 150)`);
  }
  t.ok(rateAcks > 0, `the socket flood got ${rateAcks} rate-limited acks of 300 events`);
  t.ok(sockets.every((s) => s.connected), 'flooding sockets stay connected');
  const health = await fetch(`${server.url}/healthz`);
  t.equal(health.status, 200);
  t.same(findings, [], 'no 5xx, no malformed error bodies or acks under the flood');
  t.same(serverErrors, [], 'the server logged no errors');
  t.comment(`default limits: ${limited}/120 HTTP posts got 429, ${rateAcks}/300 socket events got RATE_LIMITED acks`);
});

t.test('fuzzing HTTP and sockets leaves the server serving and the log intact', async (t) => {
  findings.length = 0;
  serverErrors.length = 0;
  const runStarted = Date.now();
  const server = await startFuzzServer('raised');
  const openSockets: Socket[] = [];
  t.teardown(async () => {
    for (const s of openSockets) s.close();
    await server.close();
  });
  const keep = (s: Socket): Socket => {
    openSockets.push(s);
    return s;
  };
  const bodyLimit = server.app.initialConfig.bodyLimit ?? 256 * 1024;

  // ---- Before the run: known events, over HTTP and sockets, and what the log holds.
  const pre = { sessions: ['fz-pre-s1', 'fz-pre-s2', 'fz-pre-s3', 'fz-pre-s4', 'fz-pre-s5'], users: ['fz-pre-u1', 'fz-pre-u2', 'fz-pre-u3'] };
  const preIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await request(server, 'POST', '/v1/events', { sessionId: 'fz-pre-s1', eventList: [{ eventType: 'view', itemId: DEMO_ITEMS[i] }, { eventType: 'click', itemId: DEMO_ITEMS[i + 40], eventValue: 2, properties: { ref: 'pre' } }] });
    t.equal(res.status, 200, res.text);
    preIds.push(...(JSON.parse(res.text) as { eventIds: string[] }).eventIds);
  }
  for (let i = 0; i < 2; i++) {
    const res = await request(server, 'POST', '/v1/events', { sessionId: 'fz-pre-s2', userId: 'fz-pre-u1', eventList: [{ eventType: 'purchase', itemId: DEMO_ITEMS[80 + i], sentAt: Date.now() - 1000 }] });
    t.equal(res.status, 200, res.text);
    preIds.push(...(JSON.parse(res.text) as { eventIds: string[] }).eventIds);
  }
  const s3 = keep(await liveSocket(server, { sessionId: 'fz-pre-s3' }));
  const s4 = keep(await liveSocket(server, { sessionId: 'fz-pre-s4', userId: 'fz-pre-u2' }));
  const s5 = keep(await liveSocket(server, { sessionId: 'fz-pre-s5' }));
  const emitOk = async (socket: Socket, event: string, payload: unknown): Promise<Ack> => {
    const ack = (await socket.timeout(5000).emitWithAck(event, payload)) as Ack;
    t.equal(ack.ok, true, `${event} ${JSON.stringify(payload)}: ${JSON.stringify(ack)}`);
    if (ack.ok && ack.eventId !== undefined) preIds.push(ack.eventId);
    return ack;
  };
  for (let i = 0; i < 4; i++) await emitOk(s3, 'event', { eventType: 'view', itemId: DEMO_ITEMS[120 + i] });
  for (let i = 0; i < 3; i++) await emitOk(s4, 'event', { eventType: 'add-to-cart', itemId: DEMO_ITEMS[160 + i], properties: { n: i } });
  for (let i = 0; i < 2; i++) await emitOk(s5, 'event', { eventType: 'view', itemId: DEMO_ITEMS[200 + i] });
  await emitOk(s5, 'identify', { userId: 'fz-pre-u3' });
  for (let i = 0; i < 2; i++) await emitOk(s5, 'event', { eventType: 'view', itemId: DEMO_ITEMS[240 + i] });

  const userKey = (id: string) => `u:${server.pseudonyms.user(id)}`;
  const preKeys = [...pre.sessions.map((s) => `s:${s}`), ...pre.users.map(userKey)];
  const before = new Map<string, LogEntry[]>();
  for (const key of preKeys) before.set(key, structuredClone(await readLog(server, key)));
  const loggedBefore = new Set([...before.values()].flat().map((e) => e.eventId));
  t.ok(preIds.every((id) => loggedBefore.has(id)), `all ${preIds.length} events accepted before the run are in the log`);
  t.ok((before.get(userKey('fz-pre-u3')) ?? []).some((e) => e.kind === 'merge'), 'the identify left a merge entry');

  // Keys with one role, a socket token, a forged one.
  const makeKey = async (role: string): Promise<string> => {
    const res = await request(server, 'POST', '/v1/admin/keys', { name: `fz-${role}`, roles: [role] });
    t.equal(res.status, 201, `a ${role} key`);
    return (JSON.parse(res.text) as { key: string }).key;
  };
  const keys = { master: MASTER_KEY, byRole: { ingest: await makeKey('ingest'), recommend: await makeKey('recommend') } };
  const tokenRes = await request(server, 'POST', '/v1/tokens', { sessionId: 'fz-tok-0', userId: 'fz-tok-user-0' });
  t.equal(tokenRes.status, 201, 'a socket token');
  const realToken = (JSON.parse(tokenRes.text) as { token: string }).token;
  const forgedToken = signSocketToken('not-the-server-secret-not-the-server-secret', { sessionId: 'fz-pre-s1', expiresAt: Math.floor(Date.now() / 1000) + 3600 });

  const root = new Rng(SEED);
  const rngs = { http: root.fork(1), raw: root.fork(2), socket: root.fork(3), ws: root.fork(4) };
  const httpCtx: HttpContext = { ids: fuzzIds(rngs.http, pre.sessions, pre.users), keys, bodyLimit };
  const socketCtx: SocketContext = { ids: fuzzIds(rngs.socket, pre.sessions, pre.users), realToken, forgedToken };
  const wsCtx: SocketContext = { ids: fuzzIds(rngs.ws, pre.sessions, pre.users), realToken, forgedToken };

  /** Events sent validly to pre-run keys during the run: key -> eventId -> event. */
  const tracked = new Map<string, Map<string, JsonObject>>();
  const track = (key: string, eventId: string, event: JsonObject) => {
    const m = tracked.get(key) ?? new Map<string, JsonObject>();
    m.set(eventId, event);
    tracked.set(key, m);
  };
  let malformed = 0;

  // ---- HTTP through fetch
  const phaseTimes: Record<string, number> = {};
  const timed = async (name: string, run: Promise<void>): Promise<void> => {
    const started = Date.now();
    await run;
    phaseTimes[name] = (Date.now() - started) / 1000;
  };
  const runHttp = pool(COUNTS.http, 16, async (i) => {
    const c: HttpCase = httpCase(rngs.http, httpCtx);
    const where = `http#${i} [${c.category}]`;
    const input = `${c.method} ${describe(c.path, 200)} headers=${describe(c.headers, 200)} body=${c.body === undefined ? '-' : describe(c.body, 300)}`;
    count(`http:${c.category}`);
    if (!c.category.startsWith('valid')) malformed++;
    let res: Response;
    let text: string;
    try {
      res = await fetch(server.url + c.path, { method: c.method, headers: c.headers, redirect: 'manual', signal: AbortSignal.timeout(15_000), ...(c.body === undefined ? {} : { body: typeof c.body === 'string' ? c.body : new Uint8Array(c.body) }) });
      text = await res.text();
    } catch (err) {
      const cause = err instanceof Error ? `${err.message} ${err.cause instanceof Error ? err.cause.message : ''}` : String(err);
      // A body over the limit may be cut off mid-upload once the 413 is sent.
      if (c.category === 'huge-over-limit') note(`fetch error on a body over the limit: ${cause}`);
      else flag('request failed without an answer', where, input, cause);
      return;
    }
    checkHttpAnswer(where, input, c.method, c.path, res.status, text);
    if (c.mustFail && res.status < 400) flag('invalid request to a pre-run session accepted', where, input, `${res.status} ${text.slice(0, 200)}`);
    if (c.category === 'invalid-utf8' && res.status < 300 && c.route === 'events') flag('POST /v1/events with invalid UTF-8 bytes accepted', where, input, `${res.status} ${text.slice(0, 200)}`);
    if (c.tracked !== undefined) {
      if (res.status !== 200) flag('valid event post to a pre-run session refused', where, input, `${res.status} ${text}`);
      else (JSON.parse(text) as { eventIds: string[] }).eventIds.forEach((id, k) => track(`s:${c.tracked?.sessionId ?? ''}`, id, c.tracked?.events[k] ?? {}));
    }
  });

  // ---- Raw bytes through node:net
  const runRaw = pool(COUNTS.raw, 6, async (i) => {
    const c = rawCase(rngs.raw, httpCtx);
    const where = `raw#${i} [${c.category}]`;
    const input = describe(c.bytes, 400);
    count(`raw:${c.category}`);
    malformed++;
    const { data, timedOut } = await sendRaw(server.port, c.bytes, 4000);
    const responses = parseResponses(data, c.head === true);
    if (responses.length === 0) note(timedOut ? `raw ${c.category}: no answer within 4 s (connection kept open)` : `raw ${c.category}: connection closed without an answer`);
    const firstLine = c.bytes.subarray(0, Math.max(0, c.bytes.indexOf('\r\n'))).toString('latin1');
    const path = firstLine.split(' ')[1] ?? '';
    for (const r of responses) checkHttpAnswer(where, input, c.head === true ? 'HEAD' : 'GET', path, r.status, r.body);
  });

  // ---- socket.io messages
  const pooled = await Promise.all([
    ...Array.from({ length: 6 }, (_, i) => liveSocket(server, { sessionId: `fz-sock-${i}` })),
    liveSocket(server, { token: realToken }),
  ]);
  pooled.forEach(keep);
  const victims = await Promise.all(pre.sessions.map((sessionId) => liveSocket(server, { sessionId })));
  victims.forEach(keep);
  const sockets = { pooled, victims };
  const sendSocketCase = async (i: number, c: SocketCase, where: string, socket: Socket, victim: boolean): Promise<void> => {
    const input = `${c.kind} ${describe(c, 400)}${victim ? ' (on a pre-run session)' : ''}`;
    switch (c.kind) {
      case 'emit': {
        if (c.ack === 'non-function') {
          socket.emit(c.event, ...c.args);
          return;
        }
        let ack: unknown;
        // socket.io hands the ack to the handler as the argument after the payload: with no
        // payload or two, the handler sees it in another parameter.
        const oneArgument = c.args.length === 1;
        try {
          ack = await socket.timeout(oneArgument ? 8000 : 1500).emitWithAck(c.event, ...c.args);
        } catch {
          const kind = !socket.connected
            ? 'socket disconnected by a message under the size limit'
            : oneArgument
              ? 'no ack for an event/identify message'
              : `no ack for an event/identify message with ${c.args.length === 0 ? 'no payload' : 'more than one argument'}`;
          flag(kind, where, input, socket.connected ? 'no ack (timeout)' : 'disconnected');
          return;
        }
        if (!isAck(ack)) return flag('socket ack not { ok, eventId } | { ok: false, error }', where, input, describe(ack));
        if (!ack.ok && ['ATTUNE_ERR_INTERNAL', 'ATTUNE_ERR_NOT_READY'].includes(ack.error.code)) flag('socket ack with a 5xx error', where, input, describe(ack));
        if (ack.ok && (c.mustFail || victim)) flag('invalid socket message accepted', where, input, describe(ack));
        if (ack.ok && c.category === 'binary') flag('socket event with binary bytes accepted', where, input, describe(ack));
        return;
      }
      case 'unknown-event':
        try {
          socket.emit(c.event, ...c.args);
        } catch {
          note('socket.io-client refused to send a reserved event name');
        }
        return;
      case 'raw-packet':
      case 'oversized': {
        const throwaway = await liveSocket(server, { sessionId: `fz-throwaway-${i}` });
        if (c.kind === 'raw-packet') throwaway.io.engine.write(c.packet);
        else throwaway.emit(c.event, c.payload);
        const gone = await waitForDisconnect(throwaway, c.kind === 'oversized' ? 5000 : 300);
        if (c.kind === 'oversized' && !gone) flag('socket not disconnected after an oversized message', where, input, 'still connected');
        if (c.kind === 'raw-packet') note(gone ? 'raw socket.io packet: disconnected' : 'raw socket.io packet: still connected');
        throwaway.close();
        return;
      }
      case 'auth': {
        const s = openSocket(server, c.auth);
        const r = await waitForConnect(s, 5000);
        s.close();
        if (r.outcome === 'connect_error' && !isErrorBody(r.data)) flag('socket connect_error without { code, message } data', where, input, `${r.message ?? ''} ${describe(r.data)}`);
        if (r.outcome === 'timeout' || r.outcome === 'disconnect') flag('socket auth answered neither connect nor connect_error', where, input, r.outcome);
        note(`socket auth: ${r.outcome}`);
        return;
      }
    }
  };
  const runSockets = pool(COUNTS.socket, 7, async (i) => {
    const rng = rngs.socket;
    if (rng.chance(0.02)) {
      // A valid event on a pre-run session: the log must gain exactly it.
      const event = { eventType: rng.pick(['view', 'click'] as const), itemId: rng.pick(DEMO_ITEMS) };
      const ack = (await s3.timeout(8000).emitWithAck('event', event)) as Ack;
      if (ack.ok && ack.eventId !== undefined) track('s:fz-pre-s3', ack.eventId, event);
      else flag('valid socket event to a pre-run session refused', `socket#${i}`, describe(event), describe(ack));
      return;
    }
    const c = socketCase(rng, socketCtx);
    const mustFailEmit = c.kind === 'emit' && c.mustFail;
    const victim = mustFailEmit && rng.chance(0.35);
    const socket = victim ? rng.pick(sockets.victims) : rng.pick(sockets.pooled);
    count(`socket:${c.category}`);
    malformed++;
    const where = `socket#${i} [${c.category}]`;
    if (!socket.connected) {
      flag('pooled socket found disconnected', where, describe(c), 'disconnected before the message');
      const index = victim ? sockets.victims.indexOf(socket) : sockets.pooled.indexOf(socket);
      const fresh = keep(await liveSocket(server, victim ? { sessionId: pre.sessions[index] } : { sessionId: `fz-sock-r${i}` }));
      (victim ? sockets.victims : sockets.pooled)[index] = fresh;
      return;
    }
    await sendSocketCase(i, c, where, socket, victim);
  });

  // ---- Raw WebSocket frames
  const runWs = pool(COUNTS.ws, 3, async (i) => {
    const c = wsCase(rngs.ws, wsCtx);
    const where = `ws#${i} [${c.category}]`;
    count(`ws:${c.category}`);
    malformed++;
    // Oversized, invalid UTF-8 and protocol-violating frames must cost the client its connection.
    const mustClose = ['oversized', 'invalid-utf8', 'protocol'].includes(c.category);
    // Frames the server tolerates (engine.io noops, pongs) leave the connection open: stop waiting soon.
    const { handshake, messages, closed } = await sendWs(server.port, c, c.expectConnectReply || mustClose ? 3000 : 700);
    if (handshake?.status !== 101) return flag('websocket upgrade refused', where, describe(c.frames), describe(handshake));
    const reply = messages.find((m) => m.startsWith('44') || m.startsWith('40'));
    if (reply?.startsWith('44')) {
      let data: unknown;
      try {
        data = (JSON.parse(reply.slice(2)) as { data?: unknown }).data;
      } catch {
        data = undefined;
      }
      if (!isErrorBody(data)) flag('socket CONNECT_ERROR without { code, message } data', where, describe(c.frames.map((f) => f.toString('latin1'))), reply.slice(0, 300));
    }
    if (mustClose && !closed) flag('websocket left open after a frame it must refuse', where, describe(c.frames.map((f) => f.subarray(0, 80).toString('latin1'))), 'still open');
    note(`ws ${c.category}: ${reply !== undefined ? `CONNECT reply ${reply.slice(0, 2)}` : closed ? 'closed by the server' : 'left open'}`);
  });

  await Promise.all([timed('http', runHttp), timed('raw', runRaw), timed('socket', runSockets), timed('ws', runWs)]);
  const fuzzEnded = Date.now();

  // ---- After the run: still serving
  await sleep(200);
  const health = await fetch(`${server.url}/healthz`);
  t.equal(health.status, 200, '/healthz answers 200 after the run');
  t.equal((await fetch(`${server.url}/readyz`)).status, 200, '/readyz answers 200 after the run');
  const after = await connectClient(server.url, { sessionId: 'fz-after-run' });
  keep(after.socket);
  await after.push();
  const ack = await after.emit<Ack>('event', { eventType: 'view', itemId: DEMO_ITEMS[3] });
  t.equal(ack.ok, true, 'a normal socket event is accepted after the run');
  if (ack.ok) t.ok(await after.push((p) => p.cause?.eventId === ack.eventId), 'and its list is pushed');
  const posted = await request(server, 'POST', '/v1/events', { sessionId: 'fz-after-run', eventList: [{ eventType: 'view', itemId: DEMO_ITEMS[4] }] });
  t.equal(posted.status, 200, 'a normal HTTP event is accepted after the run');
  const postedId = (JSON.parse(posted.text) as { eventIds: string[] }).eventIds[0];
  t.ok(await after.push((p) => p.cause?.eventId === postedId), 'and pushed to the live socket');
  t.ok(s3.connected && s4.connected && s5.connected, 'the pre-run sockets are still connected');

  // ---- The log: pre-run events unchanged, nothing added but the tracked valid events
  for (const key of preKeys) {
    const was = before.get(key) ?? [];
    const now = await readLog(server, key);
    t.strictSame(now.slice(0, was.length), was, `${key}: the ${was.length} entries from before the run are unchanged`);
    const added = now.slice(was.length);
    const expected = tracked.get(key) ?? new Map<string, JsonObject>();
    const untracked = added.filter((e) => !expected.has(e.eventId));
    const missing = [...expected.keys()].filter((id) => !added.some((e) => e.eventId === id));
    t.ok(
      untracked.length === 0 && missing.length === 0,
      `${key}: the run added exactly the ${expected.size} events sent validly to it` +
        (untracked.length === 0 ? '' : `; ${untracked.length} others: ${untracked.slice(0, 5).map((e) => describe(e, 400)).join(' | ')}`) +
        (missing.length === 0 ? '' : `; ${missing.length} acknowledged ones missing: ${missing.slice(0, 5).join(', ')}`),
    );
    for (const entry of added) {
      const sent = expected.get(entry.eventId);
      if (sent !== undefined && entry.kind === 'interaction') t.match(entry, { kind: 'interaction', eventType: sent.eventType, itemId: sent.itemId }, `${key}: ${entry.eventId} is what was sent`);
    }
  }
  t.equal(Object.keys(Object.prototype).length, 0, 'Object.prototype was not polluted');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no object inherits a polluted field');

  // ---- Findings
  t.ok(malformed >= MIN_MALFORMED, `${malformed} malformed inputs sent (at least ${MIN_MALFORMED})`);
  const byKind = new Map<string, Finding[]>();
  for (const f of findings) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  for (const [kind, list] of byKind) {
    const examples = list.slice(0, 6).map((f) => `  ${f.where}\n    input: ${f.input}\n    got:   ${f.got}`).join('\n');
    t.fail(`${kind}: ${list.length} case(s) (seed ${SEED})\n${examples}`);
  }
  t.same(serverErrors.slice(0, 10), [], `the server logged no errors (${serverErrors.length} in all)`);
  // FUZZ_FINDINGS=<file>: every finding, in full, as JSON.
  if (process.env.FUZZ_FINDINGS !== undefined) writeFileSync(process.env.FUZZ_FINDINGS, JSON.stringify({ seed: SEED, findings, serverErrors }, null, 2));

  const summary = [
    `seed ${SEED}; server start to end of fuzzing ${((fuzzEnded - runStarted) / 1000).toFixed(1)} s (${Object.entries(phaseTimes).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}); ${malformed} malformed inputs`,
    ...[...counts.entries()].sort().map(([k, v]) => `  ${k}: ${v}`),
    'notes:',
    ...[...notes.entries()].sort().map(([k, v]) => `  ${k}: ${v}`),
    `tracked valid events during the run: ${[...tracked.values()].reduce((n, m) => n + m.size, 0)}`,
  ].join('\n');
  t.comment(summary);
  if (process.env.FUZZ_SUMMARY !== undefined) console.log(summary);
});
