import t from 'tap';
import { createAttune, type AttuneClient } from '../../clients/js/src/index.js';
import type { ConnectionStatus, Recommendations } from '../../clients/js/src/types.js';
import { freePort } from '../../scripts/harness/ports.js';
import { connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';
import { loggedEvents, MapStorage, requestToken } from './support.js';

/** The @attune/client library in Node against an in-process server: real sockets, the real protocol. */

interface WireEvent {
  eventId?: string;
  eventType: string;
  itemId: string;
}

async function serverWithWireLog() {
  const server = await startLocalServer({ security: testSecurity });
  // What the server's socket handler receives, seen alongside it: the event as it came over the wire.
  const wire: WireEvent[] = [];
  server.io.on('connection', (socket) => socket.on('event', (payload: unknown) => void wire.push(payload as WireEvent)));
  return { server, wire };
}

function recordPushes(attune: AttuneClient): Recommendations[] {
  const pushes: Recommendations[] = [];
  attune.onRecommendations((push) => void pushes.push(push));
  return pushes;
}

t.test('dev session: connects, tracks with a client eventId, receives the push the event caused', async (t) => {
  const { server, wire } = await serverWithWireLog();
  t.teardown(() => server.close());
  const attune = createAttune({ url: server.url, devSession: { sessionId: 'client-dev' }, storage: new MapStorage() });
  t.teardown(() => attune.close());
  const pushes = recordPushes(attune);
  await waitFor('the list sent on connect', () => pushes.length === 1);
  t.equal(pushes[0].cause, null);
  t.equal(attune.status.state, 'online');

  const ack = await attune.track('view', 'coffee-001', { properties: { from: 'test' } });
  t.match(ack, { ok: true, eventId: /^\d+-\d+$/, clientEventId: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/ });
  t.strictSame(
    wire.map((e) => [e.eventId, e.eventType, e.itemId]),
    [[ack.clientEventId, 'view', 'coffee-001']],
    'the event went over the wire once, carrying the client eventId',
  );
  await waitFor('the push caused by the event', () => pushes.some((p) => p.cause?.eventId === ack.eventId));
  t.equal(attune.recommendations, pushes.at(-1), 'recommendations is the latest push');
  t.equal(attune.queued, 0, 'nothing left to send');
  t.strictSame(await loggedEvents(server.url, { sessionId: 'client-dev' }), ['view coffee-001']);
});

t.test('a refusal for good rejects that event only; the queue goes on with the next', async (t) => {
  const { server } = await serverWithWireLog();
  t.teardown(() => server.close());
  const attune = createAttune({ url: server.url, devSession: { sessionId: 'client-refused' }, storage: null });
  t.teardown(() => attune.close());
  const tooBig = attune.track('view', 'coffee-001', { properties: { text: 'x'.repeat(2000) } });
  const next = attune.track('view', 'coffee-002');
  await t.rejects(tooBig, { name: 'AttuneClientError', code: 'ATTUNE_ERR_VALIDATION' });
  t.match(await next, { ok: true });
  await t.rejects(attune.track('no spaces allowed', 'coffee-001'), { code: 'ATTUNE_CLIENT_INVALID_EVENT' }, 'checked before queueing');
  t.strictSame(await loggedEvents(server.url, { sessionId: 'client-refused' }), ['view coffee-002']);
});

t.test('tokens: a refused token is replaced, the token is refreshed before it expires, and a reconnect uses the fresh one', async (t) => {
  const { server } = await serverWithWireLog();
  t.teardown(() => server.close());
  const grants: Array<{ token: string; expiresAt: number }> = [];
  let calls = 0;
  const getToken = async () => {
    calls += 1;
    // The first token is forged: the server refuses it, and the client must ask again.
    if (calls === 1) return { token: 'forged.token', expiresAt: Math.floor(Date.now() / 1000) + 3600 };
    const grant = await requestToken(server.url, { sessionId: 'client-token', ttlSeconds: 10 });
    grants.push(grant);
    return grant;
  };
  const attune = createAttune({ url: server.url, getToken, storage: null, backoff: { baseMs: 50, maxMs: 500 } });
  t.teardown(() => attune.close());
  const statuses: ConnectionStatus[] = [];
  attune.onStatus((s) => void statuses.push(s));
  await waitFor('online', () => attune.status.state === 'online');
  t.equal(calls, 2, 'asked again after the refusal');
  t.ok(
    statuses.some((s) => s.state === 'offline' && s.error?.code === 'ATTUNE_ERR_UNAUTHORIZED'),
    'the refusal was reported',
  );
  t.match(await attune.track('view', 'books-001'), { ok: true });

  // A 10 s token is refreshed at 8 s, while connected.
  await waitFor('the refresh ahead of the expiry', () => calls === 3, 15_000);
  t.ok(Date.now() < grants[0].expiresAt * 1000, 'refreshed before the first token expired');
  // Once the first token has expired, the server drops the socket: the reconnect must use the new token.
  await waitFor('the first token to expire', () => Date.now() >= grants[0].expiresAt * 1000 + 1000, 15_000);
  const before = statuses.length;
  server.io.disconnectSockets(true);
  await waitFor('offline', () => statuses.slice(before).some((s) => s.state === 'offline'));
  await waitFor('online again', () => attune.status.state === 'online');
  t.strictSame(statuses.slice(before).filter((s) => s.error !== null), [], 'no refusal on the reconnect');
  t.equal(calls, 3, 'the refreshed token was used; no new one was needed');
  t.match(await attune.track('view', 'books-002'), { ok: true });
  t.strictSame(await loggedEvents(server.url, { sessionId: 'client-token' }), ['view books-001', 'view books-002']);
});

t.test('tokens: identify as a user the token does not name fetches a token for the user and reconnects', async (t) => {
  const { server } = await serverWithWireLog();
  t.teardown(() => server.close());
  let signedIn: string | undefined;
  let calls = 0;
  const getToken = () => {
    calls += 1;
    return requestToken(server.url, { sessionId: 'client-login', ...(signedIn === undefined ? {} : { userId: signedIn }) });
  };
  const attune = createAttune({ url: server.url, getToken, storage: null });
  t.teardown(() => attune.close());
  await waitFor('online', () => attune.status.state === 'online');
  t.match(await attune.track('view', 'plants-001'), { ok: true });
  signedIn = 'alice'; // the backend's session now knows the user
  t.strictSame(await attune.identify('alice'), { ok: true });
  t.equal(calls, 2, 'one more token, naming alice');
  const ack = await attune.track('view', 'plants-002');
  await waitFor('the push for the user', () => attune.recommendations?.cause?.eventId === ack.eventId);
  t.strictSame(await loggedEvents(server.url, { userId: 'alice' }), ['view plants-002'], "the session's later events are the user's");
  await t.rejects(attune.identify('mallory'), { code: 'ATTUNE_ERR_FORBIDDEN' }, 'a user the backend did not sign in: refused after one fresh token');
  t.equal(calls, 3);
  t.equal(attune.status.state, 'online', 'still connected as alice');
});

t.test('offline: events queue (bounded), survive the client in storage, and are sent in order by the next client', async (t) => {
  const { server, wire } = await serverWithWireLog();
  t.teardown(() => server.close());
  const storage = new MapStorage();
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const offline = createAttune({ url: nobody, devSession: { sessionId: 'client-offline' }, storage, storageKey: 'q', maxQueued: 3, backoff: { baseMs: 20, maxMs: 100 } });
  const statuses: ConnectionStatus[] = [];
  offline.onStatus((s) => void statuses.push(s));
  const tracked = ['books-001', 'books-002', 'books-003', 'books-004'].map((item) => offline.track('view', item));
  await t.rejects(tracked[0], { code: 'ATTUNE_CLIENT_QUEUE_FULL' }, 'the oldest is dropped when a fourth comes');
  await waitFor('a failed connect', () => statuses.some((s) => s.error?.code === 'ATTUNE_CLIENT_UNREACHABLE'));
  t.equal(offline.queued, 3);
  const queuedIds = (JSON.parse(storage.getItem('q') ?? '{}') as { events: WireEvent[] }).events.map((e) => e.eventId);
  offline.close();
  for (const promise of tracked.slice(1)) await t.rejects(promise, { code: 'ATTUNE_CLIENT_CLOSED' });

  const online = createAttune({ url: server.url, devSession: { sessionId: 'client-offline' }, storage, storageKey: 'q' });
  t.teardown(() => online.close());
  await waitFor('the queue sent', () => online.queued === 0);
  t.strictSame(
    wire.map((e) => `${e.eventId} ${e.itemId}`),
    queuedIds.map((id, i) => `${id} books-00${i + 2}`),
    'sent in order, each with the id it was given when tracked',
  );
  t.equal(storage.getItem('q'), null, 'storage emptied');
  t.strictSame(await loggedEvents(server.url, { sessionId: 'client-offline' }), ['view books-002', 'view books-003', 'view books-004'], 'each event in the log once');
});

t.test('an event stored but not acknowledged (the page closed first) is sent again with the same eventId', async (t) => {
  const { server, wire } = await serverWithWireLog();
  t.teardown(() => server.close());
  const storage = new MapStorage();
  const stored = { eventId: 'evt-lost-ack-1', eventType: 'view', itemId: 'bags-001', sentAt: Date.now() };
  // The first page sent it and the server stored it, but the ack never reached the page.
  const firstPage = await connectClient(server.url, { sessionId: 'client-lost-ack' });
  t.match(await firstPage.emit('event', stored), { ok: true });
  firstPage.close();
  storage.setItem('q', JSON.stringify({ v: 1, events: [stored] }));

  const second = createAttune({ url: server.url, devSession: { sessionId: 'client-lost-ack' }, storage, storageKey: 'q' });
  t.teardown(() => second.close());
  await waitFor('the resend acknowledged', () => second.queued === 0);
  t.strictSame(wire.map((e) => e.eventId), ['evt-lost-ack-1', 'evt-lost-ack-1'], 'the resend carries the same eventId');
  // Holds once the server deduplicates by eventId (#16); today the log has it twice.
  t.strictSame(await loggedEvents(server.url, { sessionId: 'client-lost-ack' }), ['view bags-001'], 'the log holds the event once');
});
