import t, { type Test } from 'tap';
import type { RunningServer } from '../../src/server/start.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';

const post = async (server: RunningServer, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(server.url + path, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/**
 * A browser's socket holds a token naming only its session; the shop's backend then posts the
 * session's events with the user's id (the shopper signed in). The session is that user's now,
 * and its socket keeps receiving the list it shows.
 */
async function linkWhileConnected(t: Test, socketNode: RunningServer, postNode: RunningServer, sessionId: string): Promise<void> {
  const token = await post(socketNode, '/v1/tokens', { sessionId });
  t.equal(token.status, 201);
  const client = await connectClient(socketNode.url, { token: token.body.token });
  t.teardown(() => client.close());
  await client.push();
  const anonymous = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId: 'plants-001' });
  await client.push((p) => p.cause?.eventId === anonymous.eventId);

  const linked = await post(postNode, '/v1/events', { sessionId, userId: `${sessionId}-user`, eventList: [{ eventType: 'view', itemId: 'bags-001' }, { eventType: 'add-to-cart', itemId: 'bags-002' }] });
  t.equal(linked.status, 200);
  const ids = linked.body.eventIds as string[];
  const pushed = await client.push((p) => p.cause !== null && ids.includes(p.cause.eventId));
  t.ok(pushed.items.some((i) => i.itemId.startsWith('bags-')), 'the session-only socket gets the list of the user its session now is');

  const later = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'purchase', itemId: 'bags-003' });
  t.equal(later.ok, true, 'and its own events go on');
  await client.push((p) => p.cause?.eventId === later.eventId);
}

t.test('embedded: a session-only socket gets pushes after the backend links its session to a user', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  await linkWhileConnected(t, server, server, 'linked-embedded');
});

t.test('two nodes: the socket on one, the linking put through the other', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const node = (nodeId: string) => startLocalServer({ redis: { url: redis.url }, cluster: { nodeId, shardCount: 8, leaseTtlMs: 1000 }, security: testSecurity });
  const a = await node('link-a');
  t.teardown(() => a.close());
  const b = await node('link-b');
  t.teardown(() => b.close());
  const owned = (s: RunningServer) => s.ownership?.ownedShards() ?? [];
  await waitFor('the shards to split between the nodes', () => owned(a).length > 0 && owned(b).length > 0 && owned(a).length + owned(b).length === 8, 10_000);
  await linkWhileConnected(t, a, b, 'linked-cluster');
});
