import t from 'tap';
import { connect } from 'node:net';
import { jsonBudgetProblem, PROPERTIES_MAX_BYTES } from '../../src/transport/schemas.js';
import { redactUserIds } from '../../src/ops/log.js';
import { authHeaders, connectClient, startLocalServer, testSecurity } from '../helpers.js';

t.test('properties: size, depth and prototype keys are checked without recursion', async (t) => {
  t.equal(jsonBudgetProblem({ a: 1, b: 'x', c: [true, null] }, PROPERTIES_MAX_BYTES), null);
  t.equal(jsonBudgetProblem({ a: 'é'.repeat(600) }, PROPERTIES_MAX_BYTES), 'is larger than 1024 bytes as JSON', 'bytes, not characters');
  for (const value of [{ a: 'x'.repeat(1016) }, { a: '"'.repeat(508) }, { a: [1, 2, { b: null }] }]) {
    t.equal(jsonBudgetProblem(value, 10_000), null);
    const size = Buffer.byteLength(JSON.stringify(value));
    t.equal(jsonBudgetProblem(value, size), null, `${size} bytes fit a budget of ${size}`);
    t.equal(jsonBudgetProblem(value, size - 1), `is larger than ${size - 1} bytes as JSON`, 'and not one byte less: the count is exact, escapes included');
  }
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.equal(jsonBudgetProblem({ deep }, 10_000_000), 'nests deeper than 16 levels', 'a 100,000-level value is refused, not a stack overflow');
  t.equal(jsonBudgetProblem(JSON.parse('{"x":{"__proto__":{"polluted":true}}}'), PROPERTIES_MAX_BYTES), 'has the forbidden key "__proto__"');
  t.equal(jsonBudgetProblem({ constructor: { prototype: 1 } }, PROPERTIES_MAX_BYTES), 'has the forbidden key "constructor"');
  t.equal(jsonBudgetProblem({ f: undefined }, PROPERTIES_MAX_BYTES), 'holds a value JSON cannot carry');
});

t.test('over HTTP and sockets: malformed input gets Attune errors, odd but valid input works', async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const post = async (body: unknown) => {
    const res = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string }; eventIds?: string[] } };
  };
  const event = (fields: Record<string, unknown>) => ({ sessionId: 'v-1', eventList: [{ eventType: 'view', itemId: 'books-001', ...fields }] });
  t.strictSame((await post(event({ sentAt: 'x 1' }))).body.error, { code: 'ATTUNE_ERR_VALIDATION', message: 'body.eventList.0.sentAt must be epoch milliseconds or an ISO-8601 date (time optional)' }, 'a sentAt that is not ISO-8601 is refused');
  t.equal((await post(event({ sentAt: '2026-11-26T03:00:00.123Z' }))).status, 200);
  t.equal((await post(event({ sentAt: '2026-11-26' }))).status, 200);
  t.strictSame((await post(event({ sentAt: '2026-13-45' }))).body.error, { code: 'ATTUNE_ERR_VALIDATION', message: 'eventList[0].sentAt is not a valid time' });
  t.strictSame((await post(event({ properties: { note: 'y'.repeat(2000) } }))).body.error, { code: 'ATTUNE_ERR_VALIDATION', message: 'body.eventList.0.properties is larger than 1024 bytes as JSON' });
  t.strictSame((await post(event({ properties: { a: { constructor: 1 } } }))).body.error, { code: 'ATTUNE_ERR_VALIDATION', message: 'body.eventList.0.properties has the forbidden key "constructor"' });
  t.strictSame((await post({ sessionId: 'v-1', eventList: Array.from({ length: 11 }, () => ({ eventType: 'view', itemId: 'a' })) })).body.error?.message, 'body.eventList must NOT have more than 10 items');
  t.strictSame((await post({ sessionId: 'v'.repeat(257), eventList: [{ eventType: 'view', itemId: 'a' }] })).body.error?.message, 'body.sessionId must NOT have more than 256 characters');

  const invalidUtf8 = Buffer.concat([Buffer.from('{"sessionId":"v-1","eventList":[{"eventType":"view","itemId":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]);
  const refusedBytes = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: invalidUtf8 });
  t.strictSame({ status: refusedBytes.status, body: await refusedBytes.json() }, { status: 400, body: { error: { code: 'ATTUNE_ERR_VALIDATION', message: 'the body is not valid UTF-8' } } });
  const poisoned = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: '{"sessionId":"v-1","__proto__":{"x":1},"eventList":[]}' });
  t.equal(poisoned.status, 400, 'a __proto__ key anywhere in a body is refused by the parser');
  t.equal(({} as Record<string, unknown>).x, undefined, 'and pollutes nothing');

  const plain = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'text/plain' }, body: JSON.stringify(event({})) });
  t.strictSame(
    { status: plain.status, body: await plain.json() },
    { status: 415, body: { error: { code: 'ATTUNE_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'the body must be JSON (content-type: application/json), not text/plain' } } },
    'a text/plain body is not JSON: 415, as documented',
  );

  const longId = 'é'.repeat(256);
  const related = await fetch(`${server.url}/v1/items/${encodeURIComponent(longId)}/related`, { headers: authHeaders });
  t.equal(related.status, 404, 'a 256-character id fits in a path (unknown item: 404, not a router refusal)');
  const badUrl = await fetch(`${server.url}/v1/items/%E0%A4%A/related`, { headers: authHeaders });
  t.strictSame({ status: badUrl.status, body: await badUrl.json() }, { status: 400, body: { error: { code: 'ATTUNE_ERR_VALIDATION', message: "'/v1/items/%E0%A4%A/related' is not a valid url component" } } });

  const raw = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.end(request));
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
  const garbage = await raw('GARBAGE\r\n\r\n');
  t.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(garbage, /\{"error":\{"code":"ATTUNE_ERR_VALIDATION","message":"malformed HTTP request"\}\}$/);
  const huge = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(huge, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[\s\S]*"code":"ATTUNE_ERR_HEADERS_TOO_LARGE"/);

  const socket = await connectClient(server.url, { sessionId: 'v-socket' });
  t.teardown(() => socket.close());
  await socket.push();
  type Ack = { ok: boolean; error?: { code: string; message: string } };
  const noPayload = (await socket.socket.timeout(2000).emitWithAck('event')) as Ack;
  t.strictSame(noPayload, { ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: 'event must be object' } }, 'no payload: an error ack, not silence');
  const twoPayloads = (await socket.socket.timeout(2000).emitWithAck('event', { eventType: 'view', itemId: 'a' }, { extra: true })) as Ack;
  t.equal(twoPayloads.error?.code, 'ATTUNE_ERR_VALIDATION', 'two payloads: refused');
  const binary = (await socket.socket.timeout(2000).emitWithAck('event', { eventType: 'view', itemId: 'books-001', properties: { blob: Buffer.from([1, 2, 3]) } })) as Ack;
  t.strictSame(binary.error, { code: 'ATTUNE_ERR_VALIDATION', message: 'event.properties holds binary data' }, 'binary attachments are not stored');
  const good = (await socket.socket.timeout(2000).emitWithAck('event', { eventType: 'view', itemId: 'books-002', sentAt: '2026-11-26T03:00:00Z' })) as Ack;
  t.equal(good.ok, true);
  const unknown = (await socket.socket.timeout(2000).emitWithAck('evnet', { eventType: 'view', itemId: 'books-003' })) as Ack;
  t.strictSame(unknown, { ok: false, error: { code: 'ATTUNE_ERR_VALIDATION', message: 'unknown message "evnet": a socket sends event or identify' } }, 'a message of unknown type: an error ack, not silence');
});

t.test('logged URLs never carry a user id', async (t) => {
  t.equal(redactUserIds('/v1/users/bob%40example.com/consent'), '/v1/users/~/consent');
  t.equal(redactUserIds('/v1/users/bob'), '/v1/users/~');
  t.equal(redactUserIds('/v1/recommendations?sessionId=s1&userId=alice.smith%40example.com&numResults=3'), '/v1/recommendations?sessionId=s1&userId=~&numResults=3');
  t.equal(redactUserIds('/v1/popular?numResults=3'), '/v1/popular?numResults=3');
});
