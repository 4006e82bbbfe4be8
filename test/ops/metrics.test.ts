import { readFileSync } from 'node:fs';
import t from 'tap';
import { createMetrics } from '../../src/ops/metrics.js';
import { authHeaders, connectClient, startLocalServer, testSecurity } from '../helpers.js';

/** Sample values by series (`name{labels}`) from a Prometheus text exposition. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) values.set(match[1], Number(match[2]));
  }
  return values;
}

t.test('the Grafana dashboard only uses series the nodes expose', async (t) => {
  const dashboard = JSON.parse(readFileSync(new URL('../../ops/grafana/attune-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  const exposed = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
  const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((target) => target.expr.match(/attune_[a-z0-9_]+/g) ?? [])));
  const unknown = [...used].map((name) => name.replace(/_(bucket|sum|count)$/, '')).filter((name) => !exposed.has(name));
  t.strictSame(unknown, [], `${used.size} series used, all exposed`);
  t.ok(dashboard.panels.length >= 15);
});

t.test('the metrics move under a short load', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const scrape = async () => samples(await (await fetch(`${server.url}/metrics`)).text());
  const before = await scrape();
  const client = await connectClient(server.url, { sessionId: 'metered' });
  t.teardown(() => client.close());
  await client.push();
  for (const itemId of ['books-001', 'books-002', 'coffee-003']) {
    const ack = await client.emit<{ eventId: string }>('event', { eventType: 'view', itemId });
    await client.push((p) => p.cause?.eventId === ack.eventId).catch(() => undefined);
  }
  for (let i = 0; i < 3; i++) await fetch(`${server.url}/v1/recommendations?sessionId=cold-${i % 2}`, { headers: authHeaders });
  const response = await fetch(`${server.url}/v1/recommendations?sessionId=metered`, { headers: { ...authHeaders, 'x-request-id': 'trace-42' } });
  t.equal(response.headers.get('x-request-id'), 'trace-42', 'a request keeps the caller\'s id');
  t.match((await fetch(`${server.url}/healthz`)).headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'or gets one');
  const after = await scrape();
  const grew = (series: string, by = 1) => t.ok((after.get(series) ?? 0) - (before.get(series) ?? 0) >= by, `${series}: ${before.get(series) ?? 0} -> ${after.get(series) ?? 0}`);
  grew('attune_events_accepted_total', 3);
  grew('attune_put_events_requests_total{transport="socket",outcome="accepted"}', 3);
  grew('attune_pushes_total{arm="live"}', 1);
  grew('attune_event_to_push_seconds_count{arm="live"}', 1);
  grew('attune_inference_latency_seconds_count', 1);
  grew('attune_recommendation_latency_seconds_count{route="recommendations",arm="live"}', 4);
  grew('attune_cache_lookups_total{cache="recommendations",outcome="miss"}', 2);
  grew('attune_cache_lookups_total{cache="recommendations",outcome="hit_local"}', 1);
  grew('attune_cache_refreshes_total{cache="recommendations"}', 2);
  t.equal(after.get('attune_live_actors'), 1);
  t.equal(after.get('attune_socket_connections'), 1);
  t.equal(after.get('attune_shards_owned'), 256, 'the embedded node owns every shard');
});
