import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ApiKeyAuthenticator } from '../../src/security/api-keys.js';
import { runKeys } from '../../src/cli/keys.js';
import { createRedisStores } from '../../src/store/redis/index.js';
import type { BusMessage } from '../../src/store/types.js';
import { capture } from '../helpers.js';
import { freePort } from '../../scripts/harness/ports.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

const KEY_LINE = /^atk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;

t.test('attune keys --redis: create, list, revoke, each audited as cli:<user>', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const stores = await createRedisStores({ url: redis.url, shardCount: 8 });
  t.teardown(() => stores.close());
  const busMessages: BusMessage[] = [];
  await stores.bus.subscribe((message) => busMessages.push(message));
  const authenticator = new ApiKeyAuthenticator({ store: stores.apiKeys, masterKey: null, cacheMs: 0 });
  const target = ['--redis', redis.url];

  const created = await capture(() => runKeys(['create', '--name', 'checkout backend', '--roles', 'ingest,recommend', ...target]));
  t.equal(created.code, 0, created.stderr);
  const [key, notice, ...more] = created.stdout.split('\n');
  t.match(key, KEY_LINE, 'the key alone on the first line');
  const id = key.slice(4, 16);
  t.equal(notice, `Store this key now: it is not shown again (id ${id}, name "checkout backend", roles ingest,recommend).`);
  t.strictSame(more, ['']);
  t.equal(created.stderr, '');
  t.strictSame(await authenticator.authenticate(key), { ok: true, principal: { keyId: id, roles: ['ingest', 'recommend'] } });

  const createdJson = await capture(() => runKeys(['create', '--json', '--name=ops', '--roles=admin', ...target]));
  t.equal(createdJson.code, 0, createdJson.stderr);
  const second = JSON.parse(createdJson.stdout) as { key: string; id: string; name: string; roles: string[]; createdAt: number };
  t.strictSame(Object.keys(second), ['key', 'id', 'name', 'roles', 'createdAt']);
  t.match(second, { key: KEY_LINE, name: 'ops', roles: ['admin'], createdAt: Number });
  t.equal(second.key.slice(4, 16), second.id);

  const listed = await capture(() => runKeys(['list', ...target]));
  t.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trimEnd().split('\n');
  t.equal(lines.length, 3);
  t.match(lines[0], /^ID +NAME +ROLES +CREATED +REVOKED$/);
  t.match(lines[1], new RegExp(`^${id}  checkout backend  ingest,recommend  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  -$`));
  t.match(lines[2], new RegExp(`^${second.id}  ops +admin +\\S+  -$`));
  const stored = await stores.apiKeys.get(id);
  t.notOk(listed.stdout.includes(stored?.hash ?? 'no hash'), 'never the hash');
  t.notOk(listed.stdout.includes(key.slice(17)), 'never the secret');

  const listedJson = await capture(() => runKeys(['list', '--json', ...target]));
  const { keys } = JSON.parse(listedJson.stdout) as { keys: Array<Record<string, unknown>> };
  t.strictSame(
    keys.map((k) => Object.keys(k)),
    [
      ['id', 'name', 'roles', 'createdAt', 'revokedAt'],
      ['id', 'name', 'roles', 'createdAt', 'revokedAt'],
    ],
  );
  t.match(keys, [{ id, name: 'checkout backend', roles: ['ingest', 'recommend'], revokedAt: null }, { id: second.id, revokedAt: null }]);

  // The ID may come before or after the target flags.
  const revoked = await capture(() => runKeys(['revoke', ...target, id]));
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, new RegExp(`^key ${id} revoked at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\n$`));
  t.strictSame(await authenticator.authenticate(key), { ok: false, reason: 'revoked' });
  t.match((await stores.apiKeys.get(id))?.revokedAt, Number);
  await waitUntil(() => busMessages.some((m) => m.type === 'key-revoked' && m.keyId === id));

  const again = await capture(() => runKeys(['revoke', id, '--json', ...target]));
  t.match(again, { code: 1, stderr: new RegExp(`^attune keys: failed: key ${id} was already revoked at \\S+Z\\n$`) });
  t.equal(again.stdout, '');
  const unknown = await capture(() => runKeys(['revoke', '0123456789ab', ...target]));
  t.match(unknown, { code: 1, stderr: /^attune keys: failed: no key 0123456789ab\n$/ });
  const revokedJson = await capture(() => runKeys(['revoke', second.id, '--json', ...target]));
  t.match(JSON.parse(revokedJson.stdout), { id: second.id, revokedAt: Number });

  const listedAfter = await capture(() => runKeys(['list', ...target]));
  t.match(listedAfter.stdout.split('\n')[1], new RegExp(`^${id} .*  \\d{4}-\\S+Z  \\d{4}-\\S+Z$`), 'a revoked key stays listed with its revocation time');

  const actor = `cli:${userInfo().username}`;
  const audit = (await stores.audit.read({ limit: 10 })).reverse();
  t.match(audit, [
    { actor, action: 'key.create', target: id, outcome: 'ok', detail: { name: 'checkout backend', roles: 'ingest,recommend' } },
    { actor, action: 'key.create', target: second.id, outcome: 'ok', detail: { name: 'ops', roles: 'admin' } },
    { actor, action: 'key.revoke', target: id, outcome: 'ok' },
    { actor, action: 'key.revoke', target: id, outcome: 'failed', detail: { reason: 'already-revoked' } },
    { actor, action: 'key.revoke', target: '0123456789ab', outcome: 'failed', detail: { reason: 'unknown' } },
    { actor, action: 'key.revoke', target: second.id, outcome: 'ok' },
  ]);
  t.equal(audit.length, 6);
  t.ok(audit.every((entry) => typeof entry.at === 'number' && !JSON.stringify(entry).includes('atk_')), 'no key in the audit log');
});

t.test('attune keys --redis-tls-ca: a private CA for a rediss:// server', async (t) => {
  const redis = await startRedis({ tls: true });
  t.teardown(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), 'attune-keys-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, redis.tlsCa ?? '');
  const listed = await capture(() => runKeys(['list', '--redis', redis.url, '--redis-tls-ca', caFile]));
  t.strictSame(listed, { code: 0, stdout: 'no API keys\n', stderr: '' });
  const untrusted = await capture(() => runKeys(['list', '--redis', redis.url]));
  t.match(untrusted, { code: 1, stderr: /^attune keys: failed: / }, 'without the CA the certificate is not trusted');
});

t.test('attune keys: usage errors exit 2 with the usage', async (t) => {
  const target = ['--redis', 'redis://127.0.0.1:1'];
  const help = await capture(() => runKeys([]));
  t.match(help, { code: 0, stdout: /^usage: attune keys create/ });
  t.match(await capture(() => runKeys(['list', '--help'])), { code: 0, stdout: /^usage: attune keys create/ });

  const cases: Array<[string[], RegExp]> = [
    [['rotate', ...target], /unknown subcommand "rotate": use create, list or revoke/],
    [['create', '--roles', 'ingest', ...target], /create needs --name NAME/],
    [['create', '--name', 'x', ...target], /create needs --roles/],
    [['create', '--name', 'x', '--roles', 'ingest,root', ...target], /unknown role "root": roles are ingest, recommend, privacy, admin/],
    [['create', '--name', 'x', '--roles', 'admin,admin', ...target], /role admin is given twice/],
    [['create', '--name', '  ', '--roles', 'admin', ...target], /a key needs a name/],
    [['create', '--name', 'x', '--roles', 'admin', 'extra', ...target], /unexpected argument "extra"/],
    [['list', '--name', 'x', ...target], /--name and --roles are for create, not list/],
    [['list', '--verbose', ...target], /unknown option --verbose/],
    [['revoke', ...target], /revoke needs the ID of the key/],
    [['revoke', 'aaaaaaaaaaaa', 'bbbbbbbbbbbb', ...target], /revoke takes one ID, got 2/],
    [['revoke', 'atk_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', ...target], /"atk_0123\.\.\." is not a key id: .*never the whole key/],
    [['revoke', 'XYZ', ...target], /"XYZ" is not a key id/],
    [['list'], /give the cluster's Redis: --redis URL or --redis-cluster host:port,\.\.\. \(or --server URL --api-key KEY/],
    [['list', '--redis', 'redis://a', '--redis-cluster', 'b:1'], /give the cluster's Redis/],
    [['list', '--server', 'http://127.0.0.1:1', ...target], /either --server or the --redis options, not both/],
    [['list', '--server', 'http://127.0.0.1:1'], /--server needs a key with the admin role: --api-key KEY or ATTUNE_API_KEY/],
    [['list', '--server', 'ftp://x', '--api-key', 'k'], /--server must be an http:\/\/ or https:\/\/ URL/],
    [['list', '--server', 'not a url', '--api-key', 'k'], /--server must be a URL/],
    [['list', '--api-key', 'k', ...target], /--api-key goes with --server/],
    [['list', '--redis-tls-ca', '/nonexistent/ca.pem', ...target], /--redis-tls-ca: cannot read \/nonexistent\/ca.pem/],
  ];
  for (const [argv, message] of cases) {
    const result = await capture(() => runKeys(argv, {}));
    t.match(result, { code: 2, stderr: message }, argv.join(' '));
    t.equal(result.stdout, '');
    t.match(result.stderr, /^attune keys: .*\n\nusage: attune keys create/s);
  }
});

t.test('attune keys: an unreachable Redis is a failure, exit 1', async (t) => {
  const port = await freePort();
  const result = await capture(() => runKeys(['list', '--redis', `redis://127.0.0.1:${port}`]));
  t.match(result, { code: 1, stderr: /^attune keys: failed: / });
  t.equal(result.stdout, '');
});

/** The admin API as the server is to answer it, to check the --server client's requests and output. */
interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

t.test('attune keys --server: the admin HTTP API, authenticated with the given key', async (t) => {
  const requests: RecordedRequest[] = [];
  const adminKey = 'atk_aaaaaaaaaaaa_admin-key-for-the-stub';
  const server = createServer((req, res) => void answer(req, res));
  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body: text === '' ? null : JSON.parse(text) });
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${adminKey}`) return send(401, { code: 'ATTUNE_ERR_UNAUTHORIZED', message: 'the API key is not valid' });
    if (req.method === 'POST' && req.url === '/prefix/v1/admin/keys') return send(201, { key: 'atk_0123456789ab_secret', id: '0123456789ab', name: 'web', roles: ['recommend'], createdAt: 1_700_000_000_000 });
    if (req.method === 'GET' && req.url === '/prefix/v1/admin/keys') return send(200, { keys: [{ id: '0123456789ab', name: 'web', roles: ['recommend'], createdAt: 1_700_000_000_000, revokedAt: null }] });
    if (req.method === 'DELETE' && req.url === '/prefix/v1/admin/keys/0123456789ab') return send(200, { id: '0123456789ab', revokedAt: 1_700_000_100_000 });
    return send(404, { code: 'ATTUNE_ERR_NOT_FOUND', message: 'no active key' });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix`;
  const target = ['--server', base, '--api-key', adminKey];

  const created = await capture(() => runKeys(['create', '--name', 'web', '--roles', 'recommend', ...target]));
  t.match(created, { code: 0, stdout: /^atk_0123456789ab_secret\nStore this key now: it is not shown again \(id 0123456789ab, name "web", roles recommend\)\.\n$/ });
  t.strictSame(requests[0], { method: 'POST', url: '/prefix/v1/admin/keys', authorization: `Bearer ${adminKey}`, body: { name: 'web', roles: ['recommend'] } });

  const listed = await capture(() => runKeys(['list', '--json', ...target]));
  t.strictSame(JSON.parse(listed.stdout), { keys: [{ id: '0123456789ab', name: 'web', roles: ['recommend'], createdAt: 1_700_000_000_000, revokedAt: null }] });

  const revoked = await capture(() => runKeys(['revoke', '0123456789ab', ...target]));
  t.strictSame(revoked, { code: 0, stdout: 'key 0123456789ab revoked at 2023-11-14T22:15:00.000Z\n', stderr: '' });
  const missing = await capture(() => runKeys(['revoke', 'bbbbbbbbbbbb', ...target]));
  t.strictSame(missing, { code: 1, stdout: '', stderr: 'attune keys: failed: no active key bbbbbbbbbbbb (unknown, or already revoked)\n' });

  const fromEnv = await capture(() => runKeys(['list', '--server', base], { ATTUNE_API_KEY: adminKey }));
  t.equal(fromEnv.code, 0, fromEnv.stderr);
  const refused = await capture(() => runKeys(['list', '--server', base, '--api-key', 'atk_wrong']));
  t.strictSame(refused, { code: 1, stdout: '', stderr: 'attune keys: failed: the server refused (401 ATTUNE_ERR_UNAUTHORIZED): the API key is not valid\n' });
  const closedPort = await freePort();
  const unreachable = await capture(() => runKeys(['list', '--server', `http://127.0.0.1:${closedPort}`, '--api-key', adminKey]));
  t.match(unreachable, { code: 1, stderr: /^attune keys: failed: cannot reach http:\/\/127\.0\.0\.1:\d+: fetch failed: .*ECONNREFUSED/ });
});

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
