import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { io } from 'socket.io-client';
import type { RecommendationsPush } from '../../src/actors/actor-host.js';
import { sessionKey } from '../../src/session/events.js';
import { startLocalServer, waitFor } from '../helpers.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

const MASTER = 'tls-test-master-key-0123456789abcdef0123';
const SHARDS = 4;

function httpsJson(url: string, ca: string, method: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: { authorization: `Bearer ${MASTER}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.once('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

t.test('HTTPS and WSS for clients, TLS with a password to Redis, payloads encrypted at rest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.crt')]);
  const ca = readFileSync(join(dir, 'server.crt'), 'utf8');

  const redis = await startRedis({ tls: true, password: 'redis-pw' });
  t.teardown(() => redis.stop());
  writeFileSync(join(dir, 'redis-ca.pem'), redis.tlsCa ?? '');
  const encryptionKey = `k1:${randomBytes(32).toString('base64')}`;

  const server = await startLocalServer({
      redis: { url: redis.url, tlsCa: join(dir, 'redis-ca.pem') },
      cluster: { nodeId: 'tls', shardCount: SHARDS, leaseTtlMs: 500 },
      security: {
        masterKey: MASTER,
        tokenSecret: 'tls-test-token-secret-0123456789abcdef0123',
        pseudonymKey: 'tls-test-pseudonym-key-0123456789abcdef012',
        tlsCert: join(dir, 'server.crt'),
        tlsKey: join(dir, 'server.key'),
        encryptionKeys: [encryptionKey],
      },
  });
  t.teardown(() => server.close());
  t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  await waitFor('every shard owned', () => server.ownership?.ownedShards().length === SHARDS, 10_000);

  t.strictSame((await httpsJson(`${server.url}/readyz`, ca, 'GET')).status, 200, 'served over HTTPS');
  await t.rejects(fetch(`${server.url}/healthz`), 'a client that does not trust the certificate is refused');

  const token = String((await httpsJson(`${server.url}/v1/tokens`, ca, 'POST', { sessionId: 'tls-session' })).body.token);
  const socket = io(server.url, { transports: ['websocket'], auth: { token }, ca, reconnection: false, forceNew: true });
  t.teardown(() => socket.close());
  const pushes: RecommendationsPush[] = [];
  socket.on('recommendations', (push: RecommendationsPush) => pushes.push(push));
  await waitFor('the first push over WSS', () => pushes.length > 0);
  const ack = (await socket.timeout(5000).emitWithAck('event', { eventType: 'view', itemId: 'plants-007', properties: { note: 'secret-note' } })) as { ok: boolean; eventId: string };
  t.equal(ack.ok, true);
  await waitFor('the push for the event', () => pushes.some((p) => p.cause?.eventId === ack.eventId));

  const [entry] = await server.stores.log.read(sessionKey('tls-session'), null);
  t.match(entry, { eventId: ack.eventId, itemId: 'plants-007', properties: { note: 'secret-note' } }, 'reads decrypt');
  const raw = new Redis({ host: '127.0.0.1', port: redis.port, password: 'redis-pw', tls: { ca: redis.tlsCa } });
  t.teardown(() => raw.disconnect());
  const [logKey] = await raw.keys('attune:*:log:s:tls-session');
  const stored = await raw.xrangeBuffer(logKey, '-', '+');
  const bytes = Buffer.concat(stored.flatMap(([, fields]) => fields));
  t.notOk(bytes.includes('plants-007') || bytes.includes('secret-note'), 'the stored payload does not show the item or the properties');
  t.ok(bytes.includes('k1'), 'it names the key it was encrypted with');
});
