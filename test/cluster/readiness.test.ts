import t, { type Test } from 'tap';
import { startRedis, type RedisServer } from '../../scripts/harness/redis-server.js';
import type { RunningServer } from '../../src/server/start.js';
import { startLocalServer, testSecurity, waitFor } from '../helpers.js';

/*
 * Issue 12, 5: /readyz says 503 as soon as the node's Redis connection is known lost (closed, its
 * latest call failed, or a call has waited 500 ms for its answer; an idle node pings), not a lease TTL later when the lease rounds notice; it names
 * Redis as the reason, and says 200 again once Redis answers. The lease TTL here is the default
 * (5 s), so only the connection's own signal can turn the node not ready this early. How long each
 * transition took is printed, not asserted: timing bounds belong in benchmarks.
 */

interface Readiness {
  status: number;
  reason: string | null;
}

async function readiness(url: string): Promise<Readiness> {
  const response = await fetch(`${url}/readyz`);
  const body = (await response.json()) as { error?: { message?: unknown } };
  return { status: response.status, reason: typeof body.error?.message === 'string' ? body.error.message : null };
}

/** Polls /readyz until it answers `status`; returns that answer and how long it took. */
async function untilReadiness(url: string, status: number, timeoutMs: number): Promise<Readiness & { afterMs: number }> {
  const started = Date.now();
  let last: Readiness = { status: 0, reason: null };
  await waitFor(`/readyz ${status}`, async () => (last = await readiness(url)).status === status, timeoutMs);
  return { ...last, afterMs: Date.now() - started };
}

/** A fresh redis-server and an in-process node on it, ready; both stop when the test ends. */
async function readyNodeOnRedis(t: Test): Promise<{ redis: RedisServer; server: RunningServer }> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const server = await startLocalServer({ redis: { url: redis.url }, cluster: { nodeId: 'solo', shardCount: 16, leaseTtlMs: 5000 }, security: testSecurity });
  t.teardown(() => server.close());
  await untilReadiness(server.url, 200, 15_000);
  return { redis, server };
}

t.test('/readyz turns 503 naming Redis when the node loses its Redis, and 200 when Redis is back', async (t) => {
  const { redis, server } = await readyNodeOnRedis(t);

  redis.kill('SIGKILL');
  const lost = await untilReadiness(server.url, 503, 15_000);
  t.match(lost.reason, /^redis at .* unavailable: not connected/, `not ready, naming Redis: ${lost.reason}`);
  t.comment(`/readyz answered 503 ${lost.afterMs} ms after Redis was killed`);

  const restartedAt = Date.now();
  await redis.restart();
  const back = await untilReadiness(server.url, 200, 15_000);
  t.comment(`/readyz answered 200 again ${back.afterMs} ms after the restart began (${Date.now() - restartedAt} ms in all)`);
  t.pass('ready again once Redis is back');
});

t.test('/readyz turns 503 naming Redis when Redis stops answering (paused), and 200 when it answers again', async (t) => {
  const { redis, server } = await readyNodeOnRedis(t);

  redis.kill('SIGSTOP');
  let resumed = false;
  const resume = (): void => {
    if (!resumed) redis.kill('SIGCONT');
    resumed = true;
  };
  t.teardown(resume);
  const silent = await untilReadiness(server.url, 503, 15_000);
  t.match(silent.reason, /^redis at .* unavailable: a call has had no answer for \d+ ms$/, `not ready, naming the unanswered Redis call: ${silent.reason}`);
  t.comment(`/readyz answered 503 ${silent.afterMs} ms after Redis was paused (a call unanswered for 500 ms marks Redis unavailable; the command timeout is 2000 ms)`);

  resume();
  const back = await untilReadiness(server.url, 200, 15_000);
  t.comment(`/readyz answered 200 again ${back.afterMs} ms after Redis resumed`);
  t.pass('ready again once Redis answers');
});
