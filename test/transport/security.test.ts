import t, { type Test } from 'tap';
import Fastify from 'fastify';
import { userKey, sessionKey } from '../../src/session/events.js';
import type { ConfigOverrides } from '../../src/config.js';
import { signSocketToken } from '../../src/security/socket-tokens.js';
import type { RunningServer } from '../../src/server/start.js';
import { installAuth } from '../../src/transport/auth.js';
import { ApiKeyAuthenticator } from '../../src/security/api-keys.js';
import { RateLimiter } from '../../src/security/token-bucket.js';
import { createMemoryStores } from '../../src/store/memory.js';
import type { RecommendationsPush } from '../../src/actors/actor-host.js';
import { runKeys } from '../../src/cli/keys.js';
import { capture, connectClient, startLocalServer, waitFor, type TestClient } from '../helpers.js';

const MASTER = 'security-test-master-key-0123456789abcdef';
const TOKEN_SECRET = 'security-test-token-secret-0123456789abcdef';

async function serve(t: Test, overrides: ConfigOverrides = {}): Promise<RunningServer> {
  const server = await startLocalServer({ ...overrides, security: { masterKey: MASTER, tokenSecret: TOKEN_SECRET, ...overrides.security } });
  t.teardown(() => server.close());
  return server;
}

type Reply = { status: number; body: Record<string, unknown>; headers: Headers };

function client(server: RunningServer, key: string | null) {
  return async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (key !== null) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text === '' || !(res.headers.get('content-type') ?? '').includes('json') ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
  };
}

const errorCode = (reply: Reply) => (reply.body.error as { code?: string } | undefined)?.code;

t.test('every route declares its access; the table is exactly this', async (t) => {
  const server = await serve(t);
  const table = server.app.routeAccess.map((r) => `${r.method} ${r.url} ${r.access}`).sort();
  t.strictSame(table, [
    'DELETE /v1/admin/filters/:name admin',
    'DELETE /v1/admin/keys/:keyId admin',
    'DELETE /v1/users/:userId privacy',
    'GET / public',
    'GET /app.js public',
    'GET /attune-client.js public',
    'GET /healthz public',
    'GET /metrics public',
    'GET /readyz public',
    'GET /replay.html public',
    'GET /replay.js public',
    'GET /style.css public',
    'GET /v1/admin/audit admin',
    'GET /v1/admin/experiment admin',
    'GET /v1/admin/filters admin',
    'GET /v1/admin/keys admin',
    'GET /v1/admin/model admin',
    'GET /v1/admin/models admin',
    'GET /v1/admin/models/:version admin',
    'GET /v1/admin/models/retrain admin',
    'GET /v1/admin/models/retrain/:jobId admin',
    'GET /v1/admin/online-metrics admin',
    'GET /v1/admin/replay admin',
    'GET /v1/deletion-jobs/:jobId privacy',
    'GET /v1/import-jobs admin',
    'GET /v1/import-jobs/:jobId admin',
    'GET /v1/items recommend',
    'GET /v1/items/:itemId/related recommend',
    'GET /v1/popular recommend',
    'GET /v1/recommendations recommend',
    'GET /v1/segments recommend',
    'GET /v1/trending recommend',
    'GET /v1/users/:userId/consent privacy',
    'GET /v1/users/:userId/segment recommend',
    'POST /action-interactions ingest',
    'POST /action-recommendations recommend',
    'POST /actions ingest',
    'POST /events ingest',
    'POST /items ingest',
    'POST /personalize-ranking recommend',
    'POST /recommendations recommend',
    'POST /users ingest',
    'POST /v1/admin/cache/invalidate admin',
    'POST /v1/admin/filters admin',
    'POST /v1/admin/keys admin',
    'POST /v1/admin/model admin',
    'POST /v1/admin/models admin',
    'POST /v1/admin/models/:version/promote admin',
    'POST /v1/admin/models/:version/retire admin',
    'POST /v1/admin/models/retrain admin',
    'POST /v1/admin/models/rollback admin',
    'POST /v1/events ingest',
    'POST /v1/import-jobs admin',
    'POST /v1/personalize-ranking recommend',
    'POST /v1/tokens ingest',
    'PUT /v1/items ingest',
    'PUT /v1/users/:userId/consent privacy',
  ]);
  t.notOk(table.some((line) => line.startsWith('GET /demo/')), 'the demo route exists only in development mode');

  const app = Fastify();
  installAuth(app, { authenticator: new ApiKeyAuthenticator({ store: createMemoryStores().apiKeys, masterKey: null, cacheMs: 0 }), limiter: new RateLimiter({ perSecond: 1, burst: 1 }), refused: () => {}, signer: async () => ({ ok: false, reason: "missing" }), verifySigV4: async () => ({ ok: false, reason: "missing" }) });
  t.throws(() => app.get('/v1/forgotten', async () => ({})), /route GET \/v1\/forgotten declares no access/, 'a route without access cannot be registered');
});

t.test('keys and roles: 401 without a valid key, 403 without the role, revocation at once', async (t) => {
  const server = await serve(t);
  const master = client(server, MASTER);
  const anonymous = client(server, null);
  const event = { sessionId: 'k-1', eventList: [{ eventType: 'view', itemId: 'shoes-001' }] };

  t.equal(errorCode(await anonymous('POST', '/v1/events', event)), 'ATTUNE_ERR_UNAUTHORIZED');
  t.equal((await anonymous('POST', '/v1/events', event)).status, 401);
  t.equal(errorCode(await client(server, 'atk_000000000000_' + 'x'.repeat(43))('POST', '/v1/events', event)), 'ATTUNE_ERR_UNAUTHORIZED', 'an unknown key');
  t.equal(errorCode(await client(server, 'not a key')('GET', '/v1/popular')), 'ATTUNE_ERR_UNAUTHORIZED', 'a malformed key');
  t.equal((await anonymous('GET', '/healthz')).status, 200, 'health is public');

  const created = await master('POST', '/v1/admin/keys', { name: 'shop backend', roles: ['ingest'] });
  t.equal(created.status, 201);
  const ingestKey = String(created.body.key);
  t.match(ingestKey, /^atk_[0-9a-z]{12}_[A-Za-z0-9_-]{43}$/);
  const ingest = client(server, ingestKey);
  const accepted = await ingest('POST', '/v1/events', event);
  t.equal(accepted.status, 200, 'the ingest key puts events');
  const refused = await ingest('GET', '/v1/recommendations?sessionId=k-1');
  t.equal(refused.status, 403);
  t.strictSame(refused.body, { error: { code: 'ATTUNE_ERR_FORBIDDEN', message: 'this route needs the recommend role; the key has ingest' } });
  t.equal((await ingest('GET', '/v1/admin/keys')).status, 403, 'nor admin routes');
  const viaHeader = await fetch(`${server.url}/v1/tokens`, { method: 'POST', headers: { 'x-api-key': ingestKey, 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: 'k-1' }) });
  t.equal(viaHeader.status, 201, 'x-api-key works as well');

  const listed = await master('GET', '/v1/admin/keys');
  t.strictSame(listed.body.keys, [{ id: created.body.id, name: 'shop backend', roles: ['ingest'], createdAt: created.body.createdAt, revokedAt: null }], 'no hash, no secret');

  const revoked = await master('DELETE', `/v1/admin/keys/${String(created.body.id)}`);
  t.equal(revoked.status, 200);
  t.strictSame(await ingest('POST', '/v1/events', event).then((r) => r.body), { error: { code: 'ATTUNE_ERR_UNAUTHORIZED', message: 'the API key was revoked' } });
  t.equal((await master('DELETE', `/v1/admin/keys/${String(created.body.id)}`)).status, 404, 'a key is revoked once');

  t.equal((await master('GET', '/v1/admin/audit?before=abc')).status, 400, 'a malformed cursor is a 400');
  const audit = await master('GET', '/v1/admin/audit?limit=10');
  const entries = audit.body.entries as Array<{ action: string; target: string; actor: string; outcome: string }>;
  t.strictSame(
    entries.map(({ action, target, actor, outcome }) => ({ action, target, actor, outcome })),
    [
      { action: 'key.revoke', target: created.body.id, actor: 'master', outcome: 'failed' },
      { action: 'key.revoke', target: created.body.id, actor: 'master', outcome: 'ok' },
      { action: 'key.create', target: created.body.id, actor: 'master', outcome: 'ok' },
    ],
    'the audit log holds every key action, newest first',
  );
  t.equal((await ingest('GET', '/v1/admin/audit')).status, 401, 'only admins read it');
});

t.test('the privacy role: an ingest key can neither opt a user out (which erases) nor erase one; a privacy key can do both, and nothing else', async (t) => {
  const server = await serve(t);
  const master = client(server, MASTER);
  const keyWith = async (roles: string[]) => client(server, String((await master('POST', '/v1/admin/keys', { name: roles.join('+'), roles })).body.key));
  const ingest = await keyWith(['ingest']);
  const privacy = await keyWith(['privacy']);
  const event = { sessionId: 'p-1', userId: 'pat', eventList: [{ eventType: 'view', itemId: 'shoes-001' }] };
  t.equal((await ingest('POST', '/v1/events', event)).status, 200);

  const forbidden = (role: string, has: string) => ({ status: 403, code: 'ATTUNE_ERR_FORBIDDEN', message: `this route needs the ${role} role; the key has ${has}` });
  const answer = (reply: Reply) => ({ status: reply.status, code: errorCode(reply), message: (reply.body.error as { message?: string } | undefined)?.message });
  t.strictSame(answer(await ingest('PUT', '/v1/users/pat/consent', { personalization: false })), forbidden('privacy', 'ingest'), 'an ingest key cannot opt a user out');
  t.strictSame(answer(await ingest('GET', '/v1/users/pat/consent')), forbidden('privacy', 'ingest'));
  t.strictSame(answer(await ingest('DELETE', '/v1/users/pat')), forbidden('privacy', 'ingest'), 'nor erase one');
  t.strictSame(answer(await ingest('GET', '/v1/deletion-jobs/x')), forbidden('privacy', 'ingest'));
  t.equal((await master('GET', '/v1/users/pat/consent')).body.personalization, true, 'the refused opt-out changed nothing');
  t.equal((await server.stores.log.read(userKey(server.pseudonyms.user('pat')), null)).length, 1, 'and erased nothing');

  const optedOut = await privacy('PUT', '/v1/users/pat/consent', { personalization: false });
  t.match(optedOut, { status: 200, body: { personalization: false, deletionJobId: String } }, 'a privacy key opts the user out');
  t.strictSame((await privacy('GET', '/v1/users/pat/consent')).body, { personalization: false });
  const erased = await privacy('DELETE', '/v1/users/pat');
  t.match(erased, { status: 202, body: { jobId: String } }, 'and erases them');
  t.equal((await privacy('GET', `/v1/deletion-jobs/${String(erased.body.jobId)}`)).status, 200, 'and follows the job');
  t.strictSame(answer(await privacy('POST', '/v1/events', event)), forbidden('ingest', 'privacy'), 'a privacy key sends no events');
  t.strictSame(answer(await privacy('GET', '/v1/admin/keys')), forbidden('admin', 'privacy'), 'nor reaches admin routes');
});

t.test('rate limits: a key and a session get 429 (or an ack error) past their bucket, with a retry hint', async (t) => {
  const server = await serve(t, { security: { dev: true, rateKeyPerS: 1, rateKeyBurst: 3 } });
  const master = client(server, MASTER);
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await master('GET', '/v1/popular?numResults=1')).status);
  t.strictSame(statuses, [200, 200, 200, 429, 429]);
  const limited = await master('GET', '/v1/popular?numResults=1');
  t.equal(errorCode(limited), 'ATTUNE_ERR_RATE_LIMITED');
  t.equal((limited.body.error as { retryable?: boolean }).retryable, true);
  t.equal(limited.headers.get('retry-after'), '1');
  t.equal((await client(server, null)('GET', '/healthz')).status, 200, 'public routes are not limited');

  // Per session, across transports and connections: a burst of 10, then refusals.
  const server2 = await serve(t, { security: { dev: true, rateSessionPerS: 1, rateSessionBurst: 10 } });
  const put = client(server2, MASTER);
  const eight = await put('POST', '/v1/events', { sessionId: 'flood', eventList: Array.from({ length: 8 }, () => ({ eventType: 'view', itemId: 'shoes-001' })) });
  t.equal(eight.status, 200);
  const socket = await connectClient(server2.url, { sessionId: 'flood' });
  t.teardown(() => socket.close());
  const acks = [];
  for (let i = 0; i < 3; i++) acks.push(await socket.emit<{ ok: boolean; error?: { code: string } }>('event', { eventType: 'view', itemId: 'shoes-002' }));
  t.strictSame(acks.map((a) => a.ok), [true, false, false], 'the connection took one token, the first event the last one');
  t.equal(acks[1].error?.code, 'ATTUNE_ERR_RATE_LIMITED');
  t.equal((await socket.emit<{ error?: { code: string } }>('identify', { userId: 'flooder' })).error?.code, 'ATTUNE_ERR_RATE_LIMITED', 'identify draws on the same bucket');
  t.equal((await put('POST', '/v1/events', { sessionId: 'flood', eventList: [{ eventType: 'view', itemId: 'shoes-001' }] })).status, 429);
  t.equal((await put('POST', '/v1/events', { sessionId: 'other', eventList: [{ eventType: 'view', itemId: 'shoes-001' }] })).status, 200, 'another session has its own bucket');
  t.equal((await server2.stores.log.read(sessionKey('flood'), null)).length, 9, 'exactly the allowed events are stored');
  await t.rejects(serve(t, { security: { rateSessionBurst: 9 } }), { name: 'ConfigError', message: 'the session rate burst must be at least 10 (one full put), got 9' });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, 'attune_refusals_total{transport="http",reason="rate_limited"} 3', 'refusals are counted');
  t.match(await (await fetch(`${server2.url}/metrics`)).text(), 'attune_refusals_total{transport="socket",reason="session_rate_limited"} 3');
});

t.test('socket tokens: only a valid token connects outside development mode', async (t) => {
  const server = await serve(t);
  const master = client(server, MASTER);
  const refusal = (auth: Record<string, unknown>) =>
    connectClient(server.url, auth).then(
      (c) => {
        c.close();
        return 'connected';
      },
      (err: Error & { data?: { code: string; message: string } }) => `${err.data?.code}: ${err.data?.message}`,
    );
  t.equal(await refusal({ sessionId: 'bare' }), 'ATTUNE_ERR_UNAUTHORIZED: auth must be { token } with a token from POST /v1/tokens');
  const issued = await master('POST', '/v1/tokens', { sessionId: 'tok-1', userId: 'tina', ttlSeconds: 60 });
  t.equal(issued.status, 201);
  const nowS = Math.floor(Date.now() / 1000);
  t.ok(Math.abs(Number(issued.body.expiresAt) - (nowS + 60)) <= 1, 'expires in 60 s');
  const token = String(issued.body.token);
  t.equal(await refusal({ token: token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA') }), 'ATTUNE_ERR_UNAUTHORIZED: socket token refused: bad-signature');
  const expired = signSocketToken(TOKEN_SECRET, { sessionId: 'tok-1', expiresAt: nowS - 1 });
  t.equal(await refusal({ token: expired }), 'ATTUNE_ERR_UNAUTHORIZED: socket token refused: expired');
  const forged = signSocketToken('another-secret-another-secret-another-secret', { sessionId: 'tok-1', expiresAt: nowS + 60 });
  t.equal(await refusal({ token: forged }), 'ATTUNE_ERR_UNAUTHORIZED: socket token refused: bad-signature');
  t.equal(await refusal({ token: 'garbage' }), 'ATTUNE_ERR_UNAUTHORIZED: socket token refused: malformed');
  // A session once identified as tina: a token that names no user may not reach tina's data.
  const linked = String((await master('POST', '/v1/tokens', { sessionId: 'shared-pc', userId: 'tina' })).body.token);
  const signedIn = await connectClient(server.url, { token: linked });
  await signedIn.push();
  signedIn.close();
  const anonymousToken = String((await master('POST', '/v1/tokens', { sessionId: 'shared-pc' })).body.token);
  t.equal(await refusal({ token: anonymousToken }), 'ATTUNE_ERR_FORBIDDEN: this session is identified as a user: its token must name that user');
  t.equal((await master('POST', '/v1/tokens', { sessionId: 'x', ttlSeconds: 999_999 })).status, 400, 'no token outlives --token-max-ttl-s');

  const socket = await connectClient(server.url, { token });
  t.teardown(() => socket.close());
  await socket.push();
  const ack = await socket.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId: 'shoes-003' });
  t.equal(ack.ok, true);
  const stored = await server.stores.log.read(userKey(server.pseudonyms.user('tina')), null);
  t.strictSame(stored.map((e) => e.eventId), [ack.eventId], "the token's user got the event, under the pseudonym");
});

t.test('no message a socket can send reaches another user\'s pushes or log', async (t) => {
  const server = await serve(t);
  const master = client(server, MASTER);
  const tokenFor = async (sessionId: string, userId?: string) => String((await master('POST', '/v1/tokens', { sessionId, ...(userId === undefined ? {} : { userId }) })).body.token);
  const mallory = await connectClient(server.url, { token: await tokenFor('m-session', 'mallory') });
  const anonymous = await connectClient(server.url, { token: await tokenFor('anon-session') });
  const victim = await connectClient(server.url, { token: await tokenFor('v-session', 'victim') });
  const clients: TestClient[] = [mallory, anonymous, victim];
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) await c.push();

  type Ack = { ok: boolean; error?: { code: string; message: string } };
  for (const attacker of [mallory, anonymous]) {
    t.strictSame(await attacker.emit<Ack>('identify', { userId: 'victim' }), {
      ok: false,
      error: { code: 'ATTUNE_ERR_FORBIDDEN', message: 'identify must name the user of the socket token; sign in with a new token instead' },
    });
    for (const smuggled of [{ sessionId: 'v-session' }, { userId: 'victim' }, { key: 'u:victim' }]) {
      const ack = await attacker.emit<Ack>('event', { eventType: 'view', itemId: 'bags-001', ...smuggled });
      t.equal(ack.error?.code, 'ATTUNE_ERR_VALIDATION', `an event naming ${Object.keys(smuggled)[0]} is refused`);
    }
    // Names a handler does not exist for are ignored by socket.io; they change nothing.
    attacker.socket.emit('join', 'u:victim');
    attacker.socket.emit('subscribe', { room: userKey(server.pseudonyms.user('victim')) });
  }
  t.equal((await mallory.emit<Ack>('identify', { userId: 'mallory' })).ok, true, 'a socket may identify as its own user');

  const before = { mallory: mallory.pushes.length, anonymous: anonymous.pushes.length };
  const victimIds: string[] = [];
  for (const itemId of ['watches-001', 'watches-002', 'watches-003']) {
    const ack = await victim.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId });
    victimIds.push(ack.eventId);
    await victim.push((p: RecommendationsPush) => p.cause?.eventId === ack.eventId);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const leaked = [...mallory.pushes.slice(before.mallory), ...anonymous.pushes.slice(before.anonymous)].filter((p) => p.cause !== null && victimIds.includes(p.cause.eventId));
  t.strictSame(leaked, [], "no attacker got a push caused by the victim's events");
  const victimLog = await server.stores.log.read(userKey(server.pseudonyms.user('victim')), null);
  t.strictSame(victimLog.map((e) => e.eventId), victimIds, "the victim's log holds the victim's events only");
  await waitFor('nothing pending', () => true);
});

t.test('attune keys --server: create, list and revoke through a running node; bad names are 400s', async (t) => {
  const server = await serve(t);
  const keys = (...args: string[]) => capture(() => runKeys([...args, '--server', server.url, '--api-key', MASTER]));
  const created = await keys('create', '--name', 'cli made', '--roles', 'recommend', '--json');
  t.equal(created.code, 0, created.stderr);
  const { key, id } = JSON.parse(created.stdout) as { key: string; id: string };
  t.equal((await client(server, key)('GET', '/v1/popular?numResults=1')).status, 200, 'the new key works at once');
  const listed = await keys('list', '--json');
  t.strictSame((JSON.parse(listed.stdout) as { keys: Array<{ id: string }> }).keys.map((k) => k.id), [id]);
  t.notMatch(listed.stdout, /hash/);
  t.equal((await keys('revoke', id)).code, 0);
  t.equal((await client(server, key)('GET', '/v1/popular?numResults=1')).status, 401);
  const audit = (await client(server, MASTER)('GET', '/v1/admin/audit')).body.entries as Array<{ action: string; actor: string }>;
  t.strictSame(audit.slice(0, 2).map((e) => `${e.action} ${e.actor}`), ['key.revoke master', 'key.create master']);
  const blank = await client(server, MASTER)('POST', '/v1/admin/keys', { name: '   ', roles: ['ingest'] });
  t.equal(blank.status, 400);
  t.equal(errorCode(blank), 'ATTUNE_ERR_VALIDATION');
  const controls = await client(server, MASTER)('POST', '/v1/tokens', { sessionId: '\u0001'.repeat(256), userId: 'u' });
  t.equal(controls.status, 400, 'ids that would make a token too long for a socket are refused');
});
