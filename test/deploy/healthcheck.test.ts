import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { startLocalServer, testSecurity, waitFor } from '../helpers.js';
import { findTool, ROOT, runTool } from './tools.js';

/*
 * deploy/docker/healthcheck.mjs, the image's HEALTHCHECK (/healthz) and compose's readiness
 * check (/readyz), run as Docker runs it against real nodes.
 */

const healthcheck = join(ROOT, 'deploy', 'docker', 'healthcheck.mjs');

/** The health check as Docker runs it: `node deploy/docker/healthcheck.mjs` with the container's environment. */
async function probe(env: NodeJS.ProcessEnv, path?: string): Promise<number> {
  const clean: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  return (await runTool(process.execPath, [healthcheck, ...(path === undefined ? [] : [path])], { env: { ...clean, ...env } })).code;
}

t.test('the health check passes on a node that answers /healthz, and fails where none listens', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  t.equal(await probe({ ATTUNE_PORT: String(server.port) }), 0, 'the node answers');
  t.equal(await probe({ PORT: String(server.port) }), 0, 'PORT works as the node reads it');
  const port = server.port;
  await server.close();
  t.equal(await probe({ ATTUNE_PORT: String(port) }), 1, 'nothing listens');
});

t.test('the health check speaks TLS to a node serving HTTPS', { skip: findTool('openssl') === null ? 'openssl is not installed' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-healthcheck-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A certificate for the public name, as a real deployment has: not for 127.0.0.1.
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=attune.example', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')]);
  const server = await startLocalServer({ security: { ...testSecurity, tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key') } });
  t.teardown(() => server.close());
  t.equal(await probe({ ATTUNE_PORT: String(server.port), ATTUNE_TLS_CERT: join(dir, 'tls.crt') }), 0, 'HTTPS');
  t.equal(await probe({ ATTUNE_PORT: String(server.port) }), 1, 'plain HTTP to an HTTPS node fails');
});

t.test('with /readyz it fails while the node has lost Redis, though /healthz still passes', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const server = await startLocalServer({ redis: { url: redis.url }, cluster: { nodeId: 'healthcheck', shardCount: 4, leaseTtlMs: 5000 }, security: testSecurity });
  t.teardown(() => server.close());
  await waitFor('/readyz 200', async () => (await fetch(`${server.url}/readyz`)).status === 200, 15_000);
  t.equal(await probe({ ATTUNE_PORT: String(server.port) }, '/readyz'), 0, 'ready');
  redis.kill('SIGKILL');
  await waitFor('/readyz 503', async () => (await fetch(`${server.url}/readyz`)).status === 503, 15_000);
  t.equal(await probe({ ATTUNE_PORT: String(server.port) }, '/readyz'), 1, 'not ready without Redis');
  t.equal(await probe({ ATTUNE_PORT: String(server.port) }), 0, 'yet alive: the container is not restarted for it');
});
