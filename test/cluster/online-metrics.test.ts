import t from 'tap';
import type { RunningServer } from '../../src/server/start.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { authHeaders, startLocalServer, testSecurity, waitFor } from '../helpers.js';

const SHARDS = 16;

interface Totals {
  total: { lists: number; impressions: number; clicks: number; addToCarts: number; purchases: number; revenue: number };
  rows: Array<{ recipe: string; lists: number }>;
}

t.test('two nodes on one Redis: the online-metrics endpoint on either node sums both nodes\' counts', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const node = (nodeId: string) => startLocalServer({ redis: { url: redis.url }, cluster: { nodeId, shardCount: SHARDS, leaseTtlMs: 1000 }, security: testSecurity, online: { flushMs: 50 } });
  const a = await node('node-a');
  t.teardown(() => a.close());
  const b = await node('node-b');
  t.teardown(() => b.close());
  const call = async (server: RunningServer, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: { ...authHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    t.equal(response.status, 200, `${method} ${path}`);
    return response.json() as Promise<unknown>;
  };
  type List = { items: Array<{ itemId: string }>; recommendationId: string };

  // Each node serves a list and takes the event that responds to it (whichever node owns the session's actor).
  const onA = (await call(a, 'GET', '/v1/recommendations?sessionId=visitor-a&numResults=3')) as List;
  await call(a, 'POST', '/v1/events', { sessionId: 'visitor-a', eventList: [{ eventType: 'click', itemId: onA.items[1].itemId }] });
  const onB = (await call(b, 'GET', '/v1/recommendations?sessionId=visitor-b&numResults=4')) as List;
  await call(b, 'POST', '/v1/events', { sessionId: 'visitor-b', eventList: [{ eventType: 'purchase', itemId: onB.items[0].itemId, recommendationId: onB.recommendationId, eventValue: 7.5 }] });

  const expected = { lists: 2, impressions: 7, clicks: 1, addToCarts: 0, purchases: 1, revenue: 7.5 };
  for (const server of [a, b]) {
    let report: Totals | null = null;
    await waitFor(`${server.nodeId} to report both nodes' counts`, async () => {
      report = (await call(server, 'GET', '/v1/admin/online-metrics?since=0')) as Totals;
      return report.total.lists === expected.lists && report.total.purchases === expected.purchases && report.total.clicks === expected.clicks;
    });
    const { total, rows } = report as unknown as Totals;
    t.match(total, expected, `${server.nodeId} sums both nodes`);
    t.strictSame(rows.map((row) => [row.recipe, row.lists]), [['recommendations', 2]]);
  }
});
