import t from 'tap';
import { io as connectSocket } from 'socket.io-client';
import { connectClient, startLocalServer, testSecurity } from '../helpers.js';

t.test('a draining node fails readiness and refuses new sockets at once, still serves its sockets, then disconnects them', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const staying = await connectClient(server.url, { sessionId: 'drain-1' });
  t.teardown(() => staying.close());
  await staying.push();
  t.equal((await fetch(`${server.url}/readyz`)).status, 200);

  await server.drain();
  const ready = await fetch(`${server.url}/readyz`);
  t.equal(ready.status, 503);
  t.match(await ready.json(), { error: { code: 'ATTUNE_ERR_NOT_READY', message: /shutting down/, retryable: true } });

  const refused = await new Promise<{ message: string; data?: unknown }>((resolve, reject) => {
    const socket = connectSocket(server.url, { transports: ['websocket'], auth: { sessionId: 'drain-2' }, reconnection: false, forceNew: true });
    socket.once('connect', () => reject(new Error('a draining node took a new socket')));
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      socket.close();
      resolve(err);
    });
  });
  t.match(refused.data, { code: 'ATTUNE_ERR_NOT_READY', message: /connect to another/ }, 'a new socket is told to go elsewhere');

  const ack = await staying.emit<{ ok: boolean; eventId?: string }>('event', { eventType: 'view', itemId: 'shoes-001' });
  t.match(ack, { ok: true, eventId: /^\d+-\d+$/ }, 'a socket already here is still served');

  const disconnected = new Promise<string>((resolve) => staying.socket.once('disconnect', (reason) => resolve(reason)));
  await server.close();
  t.equal(await disconnected, 'io server disconnect', 'closing tells the client the server ended it (it reconnects elsewhere)');
});
