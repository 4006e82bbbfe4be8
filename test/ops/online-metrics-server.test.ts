import t from 'tap';
import type { RecommendationsPush } from '../../src/actors/actor-host.js';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';

interface Group {
  lists: number;
  impressions: number;
  clicks: number;
  addToCarts: number;
  purchases: number;
  revenue: number;
  ctr: { value: number; low: number; high: number } | null;
  revenuePerList: { value: number; low: number; high: number } | null;
}
interface Report {
  since: string;
  until: string;
  attributionWindowMs: number;
  total: Group;
  byModelVersion: Array<Group & { modelVersion: string }>;
  byRecipe: Array<Group & { recipe: string }>;
  byArm: Array<Group & { arm: string }>;
  rows: Array<Group & { modelVersion: string; recipe: string; arm: string }>;
}

t.test('GET /v1/admin/online-metrics over a real server: socket pushes, HTTP lists, and the events credited to them', async (t) => {
  const startedAt = Date.now();
  const server = await startLocalServer({ security: testSecurity, pushSize: 5 });
  t.teardown(() => server.close());
  const http = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: { ...authHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const count = async (histogram: 'inferenceLatency') => (await server.metrics[histogram].get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  const pushesTotal = async () => (await server.metrics.pushes.get()).values[0]?.value ?? 0;

  // A socket: its connect list, then a click and a purchase naming that list, and a click naming a list never served.
  const client = await connectClient(server.url, { sessionId: 'sock' });
  t.teardown(() => client.close());
  const first = await client.push();
  const scored = await count('inferenceLatency');
  const emit = async (event: Record<string, unknown>, passes: number) => {
    await client.emit('event', event);
    // Each event's scoring pass ends with its push, if the list changed: then it has left the node.
    await waitFor('the event scored', async () => (await count('inferenceLatency')) >= scored + passes);
  };
  await emit({ eventType: 'click', itemId: first.items[0].itemId, recommendationId: first.recommendationId }, 1);
  await emit({ eventType: 'purchase', itemId: first.items[1].itemId, recommendationId: first.recommendationId, eventValue: 12.5 }, 2);
  await emit({ eventType: 'click', itemId: first.items[2].itemId, recommendationId: 'never-served' }, 3);
  const pushed = 1 + (await pushesTotal());
  await waitFor('every push at the socket', () => client.pushes.length === pushed);
  const pushImpressions = client.pushes.reduce((sum: number, push: RecommendationsPush) => sum + push.items.length, 0);

  // HTTP: a visitor's list, a click on it by the last-list rule and an add-to-cart naming it; a related list no one clicks.
  const list = (await http('GET', '/v1/recommendations?sessionId=web&numResults=4')).body as { items: Array<{ itemId: string }>; recommendationId: string; modelVersion: string };
  t.equal(list.items.length, 4);
  const put = await http('POST', '/v1/events', {
    sessionId: 'web',
    eventList: [
      { eventType: 'click', itemId: list.items[0].itemId },
      { eventType: 'add-to-cart', itemId: list.items[0].itemId, recommendationId: list.recommendationId },
    ],
  });
  t.equal(put.status, 200);
  const related = (await http('GET', `/v1/items/${list.items[0].itemId}/related?sessionId=web&numResults=3`)).body as { items: unknown[] };
  t.equal(related.items.length, 3);

  const { status, body } = await http('GET', `/v1/admin/online-metrics?since=${encodeURIComponent(new Date(startedAt).toISOString())}`);
  t.equal(status, 200);
  const report = body as Report;
  const version = server.model.manifest.version;
  t.equal(report.since, new Date(Math.floor(startedAt / 60_000) * 60_000).toISOString(), 'since, at its minute');
  t.equal(report.attributionWindowMs, 30 * 60_000);
  t.strictSame(
    report.rows.map(({ modelVersion, recipe, arm, lists, impressions, clicks, addToCarts, purchases, revenue }) => ({ modelVersion, recipe, arm, lists, impressions, clicks, addToCarts, purchases, revenue })),
    [
      { modelVersion: version, recipe: 'push', arm: 'live', lists: pushed, impressions: pushImpressions, clicks: 1, addToCarts: 0, purchases: 1, revenue: 12.5 },
      { modelVersion: version, recipe: 'recommendations', arm: 'live', lists: 1, impressions: 4, clicks: 1, addToCarts: 1, purchases: 0, revenue: 0 },
      { modelVersion: version, recipe: 'related', arm: 'live', lists: 1, impressions: 3, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0 },
    ],
  );
  t.match(report.byArm, [{ arm: 'live', lists: pushed + 2, clicks: 2, purchases: 1, revenue: 12.5 }]);
  t.match(report.byModelVersion, [{ modelVersion: version, impressions: pushImpressions + 7 }]);
  t.equal(report.byRecipe.find((r) => r.recipe === 'recommendations')?.ctr?.value, 0.25);
  t.match(report.total, { revenuePerList: { value: 12.5 / (pushed + 2) } });

  const scrape = await (await fetch(`${server.url}/metrics`)).text();
  t.match(scrape, `attune_online_clicks_total{model_version="${version}",recipe="push",arm="live"} 1`);
  t.match(scrape, `attune_online_revenue_total{model_version="${version}",recipe="push",arm="live"} 12.5`);
  t.match(scrape, `attune_online_impressions_total{model_version="${version}",recipe="recommendations",arm="live"} 4`);
  t.match(scrape, 'attune_online_unattributed_total{engagement="click",reason="unknown-id"} 1');

  const later = (await http('GET', `/v1/admin/online-metrics?since=${Date.now() + 120_000}`)).body as Report;
  t.strictSame([later.rows, later.total.lists], [[], 0], 'since in epoch ms, after everything');
  const bad = await http('GET', '/v1/admin/online-metrics?since=yesterday');
  t.equal(bad.status, 400);
  t.match(bad.body, { error: { code: 'ATTUNE_ERR_VALIDATION', message: /since must be an ISO-8601 time or epoch milliseconds/ } });
  const anonymous = await fetch(`${server.url}/v1/admin/online-metrics`);
  t.equal(anonymous.status, 401, 'an admin route');
});

t.test('the Personalize-compatible API counts too; an opted-out user\'s lists do not', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const http = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: { ...authHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    t.equal(response.status, 200, `${method} ${path}`);
    return (await response.json()) as unknown;
  };
  // An opted-out user: a list over HTTP and one on a socket, neither counted.
  await http('PUT', '/v1/users/quiet/consent', { personalization: false });
  await http('GET', '/v1/recommendations?userId=quiet&numResults=5');
  const quiet = await connectClient(server.url, { sessionId: 'quiet-session', userId: 'quiet' });
  t.teardown(() => quiet.close());
  await quiet.push();

  const list = (await http('POST', '/recommendations', { campaignArn: 'arn:aws:personalize:us-east-1:123456789012:campaign/shop', userId: 'pz-user', numResults: 5 })) as { itemList: Array<{ itemId: string }>; recommendationId: string };
  t.equal(list.itemList.length, 5);
  const sentAt = Math.floor(Date.now() / 1000);
  await http('POST', '/events', {
    trackingId: 'tracking',
    sessionId: 'pz-session',
    userId: 'pz-user',
    eventList: [
      { eventType: 'click', itemId: list.itemList[2].itemId, sentAt, recommendationId: list.recommendationId },
      // No id: the last list shown to the user, though it was asked for without a session.
      { eventType: 'purchase', itemId: list.itemList[3].itemId, sentAt, eventValue: 3 },
    ],
  });
  const report = (await http('GET', '/v1/admin/online-metrics?since=0')) as Report;
  t.strictSame(
    report.rows.map(({ recipe, arm, lists, impressions, clicks, addToCarts, purchases, revenue }) => ({ recipe, arm, lists, impressions, clicks, addToCarts, purchases, revenue })),
    [{ recipe: 'recommendations', arm: 'live', lists: 1, impressions: 5, clicks: 1, addToCarts: 0, purchases: 1, revenue: 3 }],
  );
  t.match(report.total, { ctr: { value: 0.2 }, conversion: { value: 0.2 }, revenuePerList: { value: 3, low: 3, high: 3 } });
});
