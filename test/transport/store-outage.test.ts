import t from 'tap';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';

type Ack = { ok: boolean; eventId?: string; error?: { code: string; retryable?: boolean } };

t.test('Redis dies while a signed-in socket sends: its consent lookup fails into an error ack, and the node lives on', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const server = await startLocalServer({ redis: { url: redis.url }, cluster: { nodeId: 'outage', shardCount: 4, leaseTtlMs: 600 }, security: { ...testSecurity, deletionGraceMs: 50 } });
  t.teardown(() => server.close());
  await waitFor('ready', async () => (await fetch(`${server.url}/readyz`)).status === 200, 10_000);
  const client = await connectClient(server.url, { sessionId: 'outage-s', userId: 'outage-user' });
  t.teardown(() => client.close());
  await client.push();
  t.match(await client.emit<Ack>('event', { eventType: 'view', itemId: 'books-001' }), { ok: true });

  // The node cached the user's consent when the socket connected; a deletion forgets it, so the
  // socket's next event has to ask the store.
  const erased = await fetch(`${server.url}/v1/users/outage-user`, { method: 'DELETE', headers: authHeaders });
  t.equal(erased.status, 202);
  const { jobId } = (await erased.json()) as { jobId: string };
  await waitFor('the deletion job to finish', async () => {
    const job = (await (await fetch(`${server.url}/v1/deletion-jobs/${jobId}`, { headers: authHeaders })).json()) as { state: string };
    return job.state === 'done';
  });

  await redis.kill('SIGKILL');
  const refused = await client.emit<Ack>('event', { eventType: 'view', itemId: 'books-002' });
  t.match(refused, { ok: false, error: { code: 'ATTUNE_ERR_NOT_READY', retryable: true } }, 'the event is refused with a retryable error, not acked');
  const identified = await client.emit<Ack>('identify', { userId: 'another-user' });
  t.match(identified, { ok: false, error: { code: 'ATTUNE_ERR_NOT_READY', retryable: true } }, 'so is an identify, whose consent lookup fails too');
  t.equal(client.socket.connected, true, 'the socket stays connected');

  // Sockets come and go meanwhile: their rooms' channels cannot be subscribed or unsubscribed.
  client.close();
  const late = await connectClient(server.url, { sessionId: 'outage-late', userId: 'late-user' });
  t.teardown(() => late.close());
  await waitFor('the late socket to be let go (its welcome cannot read consent)', () => !late.socket.connected);
  await waitFor('the node to have no socket left', () => server.io.of('/').sockets.size === 0);
  t.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the node still answers');
});
