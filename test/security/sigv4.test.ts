import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { PersonalizeEventsClient, PutEventsCommand } from '@aws-sdk/client-personalize-events';
import { GetRecommendationsCommand, PersonalizeRuntimeClient } from '@aws-sdk/client-personalize-runtime';
import { SignatureV4 } from '@smithy/signature-v4';
import t from 'tap';
import { awsCredentialsFor, keyIdOfAccessKey, verifySigV4, type AwsCredentials, type SigV4Options, type SigV4Request } from '../../src/security/sigv4.js';

const ROOT = 'sigv4-root-secret-for-tests';
const KEY_ID = '0123456789ab';
const OTHER_KEY_ID = 'fedcba987654';
const CREDS = awsCredentialsFor(KEY_ID, ROOT);
const NOW = Date.UTC(2026, 0, 15, 12, 30, 45);
const HOST = 'attune.example:8443';

/** The secrets of KEY_ID and OTHER_KEY_ID, as a server would derive them; counts lookups. */
function keyring(known: readonly string[] = [KEY_ID, OTHER_KEY_ID]): { secretFor: SigV4Options['secretFor']; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    secretFor: async (accessKeyId) => {
      calls.push(accessKeyId);
      const keyId = keyIdOfAccessKey(accessKeyId);
      return keyId !== null && known.includes(keyId) ? awsCredentialsFor(keyId, ROOT).secretAccessKey : null;
    },
  };
}

function options(overrides: Partial<SigV4Options> = {}): SigV4Options {
  return { secretFor: keyring().secretFor, service: 'personalize', nowMs: NOW, ...overrides };
}

/** RFC 3986 encoding, as the SDK's HTTP handler writes query strings. */
function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

interface SignInput {
  method?: string;
  /** As sent on the wire (the SDK percent-encodes path labels before signing). */
  path?: string;
  /** Decoded, as the SDK holds it; written to the wire in the order given. */
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
  region?: string;
  service?: string;
  credentials?: AwsCredentials & { sessionToken?: string };
  date?: number;
  applyChecksum?: boolean;
}

/** A request signed by @smithy/signature-v4 (the AWS SDK's own signer), as a node server would see it. */
async function signed(input: SignInput = {}): Promise<SigV4Request> {
  const body = input.body ?? '{"trackingId":"t-1","sessionId":"s-1","eventList":[{"eventType":"click","sentAt":1768480245}]}';
  const signer = new SignatureV4({
    credentials: input.credentials ?? CREDS,
    region: input.region ?? 'us-east-1',
    service: input.service ?? 'personalize',
    sha256: Sha256,
    applyChecksum: input.applyChecksum ?? true,
  });
  const query = input.query ?? {};
  const result = await signer.sign(
    {
      method: input.method ?? 'POST',
      protocol: 'https:',
      hostname: 'attune.example',
      port: 8443,
      path: input.path ?? '/events',
      query,
      headers: { host: HOST, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...input.headers },
      body,
    },
    { signingDate: new Date(input.date ?? NOW - 20_000) },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers)) headers[name.toLowerCase()] = value;
  const rawQuery = Object.entries(query)
    .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${escapeUri(name)}=${escapeUri(v)}`))
    .join('&');
  return { method: result.method, rawPath: result.path, rawQuery, headers, body: Buffer.from(body) };
}

function withHeaders(request: SigV4Request, changes: Record<string, string | string[] | undefined>): SigV4Request {
  return { ...request, headers: { ...request.headers, ...changes } };
}

function authorizationOf(request: SigV4Request): string {
  const value = request.headers.authorization;
  if (typeof value !== 'string') throw new Error('no authorization header');
  return value;
}

t.test('awsCredentialsFor derives AWS-shaped credentials from the key id and the root', async (t) => {
  t.equal(CREDS.accessKeyId, 'ATK0123456789AB');
  t.equal(CREDS.accessKeyId.length, 15);
  t.match(CREDS.secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
  t.same(awsCredentialsFor(KEY_ID, ROOT), CREDS, 'deterministic: the server derives the same secret');
  t.not(awsCredentialsFor(OTHER_KEY_ID, ROOT).secretAccessKey, CREDS.secretAccessKey, 'another key, another secret');
  t.not(awsCredentialsFor(KEY_ID, `${ROOT}x`).secretAccessKey, CREDS.secretAccessKey, 'another root, another secret');
  // Many ids: always 40 characters of [A-Za-z0-9+/].
  for (let i = 0; i < 200; i++) {
    const id = (0x100000000000 + i * 7919).toString(16).slice(-12);
    t.match(awsCredentialsFor(id, ROOT).secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
  }
  for (const bad of ['master', '0123456789AB', '0123456789a', '0123456789abc', 'atk_0123456789ab', '']) {
    t.throws(() => awsCredentialsFor(bad, ROOT), RangeError, `refuses key id ${JSON.stringify(bad)}`);
  }
  t.throws(() => awsCredentialsFor(KEY_ID, ''), RangeError, 'refuses an empty root');
});

t.test('keyIdOfAccessKey inverts the access key id, strictly', async (t) => {
  t.equal(keyIdOfAccessKey(CREDS.accessKeyId), KEY_ID);
  t.equal(keyIdOfAccessKey(awsCredentialsFor(OTHER_KEY_ID, ROOT).accessKeyId), OTHER_KEY_ID);
  for (const bad of ['atk0123456789ab', 'ATK0123456789ab', 'ATK0123456789A', 'ATK0123456789ABC', 'ATK0123456789AG', ' ATK0123456789AB', 'ATK0123456789AB\n', 'AKIAIOSFODNN7EXAMPLE', 'ATK', '']) {
    t.equal(keyIdOfAccessKey(bad), null, `refuses ${JSON.stringify(bad)}`);
  }
});

t.test('verifies a POST with a JSON body signed by the SDK signer', async (t) => {
  const request = await signed();
  const keys = keyring();
  const result = await verifySigV4(request, options({ secretFor: keys.secretFor }));
  t.has(result, { ok: true, accessKeyId: CREDS.accessKeyId, region: 'us-east-1' });
  t.ok(result.ok && result.signedHeaders.includes('content-type'), 'content-type is among the signed headers');
  t.same(keys.calls, [CREDS.accessKeyId], 'one secret lookup, by access key id');
  const other = awsCredentialsFor(OTHER_KEY_ID, ROOT);
  t.has(await verifySigV4(await signed({ credentials: other }), options()), { ok: true, accessKeyId: other.accessKeyId, region: 'us-east-1' });
});

t.test('any region is accepted and returned', async (t) => {
  for (const region of ['eu-central-1', 'ap-southeast-2', 'us-gov-west-1', 'local']) {
    t.has(await verifySigV4(await signed({ region }), options()), { ok: true, accessKeyId: CREDS.accessKeyId, region });
  }
});

t.test('empty bodies, GET and other methods', async (t) => {
  t.ok((await verifySigV4(await signed({ method: 'GET', body: '' }), options())).ok, 'GET, empty body');
  t.ok((await verifySigV4(await signed({ method: 'DELETE', body: '', applyChecksum: false }), options())).ok, 'empty body without x-amz-content-sha256');
  t.ok((await verifySigV4(await signed({ applyChecksum: false }), options())).ok, 'a body without x-amz-content-sha256');
  const utf8 = await signed({ body: '{"userId":"ünï-çødé 🎉"}' });
  t.ok((await verifySigV4(utf8, options())).ok, 'a UTF-8 body hashes as bytes');
});

t.test('paths with special characters, encoded as the SDK sends them', async (t) => {
  const paths = [
    '/',
    '/recommendations',
    '/items/a%20b',
    `/items/${escapeUri('été/x')}/more`,
    `/items/${escapeUri("!'()*")}`,
    `/items/${escapeUri('a+b=c&d;e,f:g@h$i')}`,
    `/items/${escapeUri('%41 already-encoded %2F')}`,
    '/items/raw(parens)*!',
    '/items/trailing/',
    '/base//events',
    '/a/./b/../events',
    '/items/~tilde-_.',
  ];
  for (const path of paths) {
    const result = await verifySigV4(await signed({ path }), options());
    t.ok(result.ok, `path ${path}`);
  }
});

t.test('query strings: decoded, re-encoded and sorted as the signer does', async (t) => {
  const queries: Array<Record<string, string | string[]>> = [
    { numResults: '10' },
    { z: '1', a: '2', m: '3' },
    { a: ['z', 'b', 'm'], 'a-b': '1', aa: '' },
    { 'sp ace': 'x y', é: '&=?#/', "!'()*": "!'()*", tilde: '~-_.' },
    { empty: '' },
  ];
  for (const query of queries) {
    const request = await signed({ query, method: 'GET', body: '' });
    const result = await verifySigV4(request, options());
    t.ok(result.ok, `query ${request.rawQuery}`);
  }
  // Keys and values written with needless escapes decode to the same parameters.
  const request = await signed({ query: { abc: 'xyz' }, method: 'GET', body: '' });
  t.ok((await verifySigV4({ ...request, rawQuery: '%61bc=x%79z' }, options())).ok, 'unreserved characters sent escaped');
  // A name without '=' has the empty value.
  const bare = await signed({ query: { flag: '' }, method: 'GET', body: '' });
  t.ok((await verifySigV4({ ...bare, rawQuery: 'flag' }, options())).ok, 'a bare name signs as name=');
});

t.test('tampering is caught: bad-signature', async (t) => {
  const base = await signed({ query: { a: '1' } });
  const cases: Array<[string, SigV4Request]> = [
    ['body (x-amz-content-sha256 stale)', { ...base, body: Buffer.from(Buffer.from(base.body).toString().replace('click', 'clack')) }],
    ['method', { ...base, method: 'PUT' }],
    ['path', { ...base, rawPath: '/items' }],
    ['path encoding', { ...base, rawPath: '/%65vents' }],
    ['path trailing slash', { ...base, rawPath: '/events/' }],
    ['query value', { ...base, rawQuery: 'a=2' }],
    ['query added', { ...base, rawQuery: 'a=1&b=2' }],
    ['query removed', { ...base, rawQuery: '' }],
    ['signed header value', withHeaders(base, { 'content-type': 'text/plain' })],
    ['host', withHeaders(base, { host: 'evil.example:8443' })],
    ['x-amz-date', withHeaders(base, { 'x-amz-date': '20260115T123026Z' })],
    ['signed header removed', withHeaders(base, { 'content-length': undefined })],
    ['signature', withHeaders(base, { authorization: authorizationOf(base).replace(/Signature=([0-9a-f])/, (_, c: string) => `Signature=${c === '0' ? '1' : '0'}`) })],
    ['signed headers list', withHeaders(base, { authorization: authorizationOf(base).replace('content-length;', '') })],
    ['credential region', withHeaders(base, { authorization: authorizationOf(base).replace('/us-east-1/', '/us-west-2/') })],
  ];
  for (const [what, request] of cases) {
    t.same(await verifySigV4(request, options()), { ok: false, reason: 'bad-signature' }, what);
  }
  // Without x-amz-content-sha256 the body is still covered, through the signature.
  const unchecked = await signed({ applyChecksum: false });
  t.equal(unchecked.headers['x-amz-content-sha256'], undefined);
  const tampered = { ...unchecked, body: Buffer.from(Buffer.from(unchecked.body).toString().replace('click', 'clack')) };
  t.same(await verifySigV4(tampered, options()), { ok: false, reason: 'bad-signature' }, 'body without x-amz-content-sha256');
  // Headers outside SignedHeaders may change: they are not authenticated (signedHeaders says which are).
  t.ok((await verifySigV4(withHeaders(base, { 'user-agent': 'something else', 'x-extra': '1' }), options())).ok, 'unsigned headers are free');
});

t.test('signed header values are canonicalised as the signer does', async (t) => {
  const request = await signed({ headers: { 'x-custom': 'a   b \t c', 'x-amz-meta': ' padded ' } });
  t.ok((await verifySigV4(request, options())).ok, 'runs of spaces and tabs');
  // node trims the value and keeps inner whitespace; header names arrive lower case, but others are folded.
  const trimmed = withHeaders(request, { 'x-amz-meta': 'padded' });
  t.ok((await verifySigV4(trimmed, options())).ok, 'outer whitespace trimmed (as node delivers it)');
  const { 'content-type': contentType, ...rest } = request.headers;
  t.ok((await verifySigV4({ ...request, headers: { ...rest, 'Content-Type': contentType } }, options())).ok, 'header names in any case');
});

t.test('a wrong secret: bad-signature', async (t) => {
  const wrongSecret = { accessKeyId: CREDS.accessKeyId, secretAccessKey: awsCredentialsFor(OTHER_KEY_ID, ROOT).secretAccessKey };
  t.same(await verifySigV4(await signed({ credentials: wrongSecret }), options()), { ok: false, reason: 'bad-signature' });
  const otherRoot = awsCredentialsFor(KEY_ID, 'another-root');
  t.same(await verifySigV4(await signed({ credentials: otherRoot }), options()), { ok: false, reason: 'bad-signature' }, 'derived under another root');
});

t.test('an unknown access key: unknown-key', async (t) => {
  const stranger = awsCredentialsFor('aaaaaaaaaaaa', ROOT);
  const keys = keyring();
  t.same(await verifySigV4(await signed({ credentials: stranger }), options({ secretFor: keys.secretFor })), { ok: false, reason: 'unknown-key' });
  t.same(keys.calls, [stranger.accessKeyId]);
  const aws = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  t.same(await verifySigV4(await signed({ credentials: aws }), options()), { ok: false, reason: 'unknown-key' }, 'an AWS access key');
  // Session tokens are refused before any lookup: no Attune credentials have one.
  const sessionKeys = keyring();
  const withToken = await signed({ credentials: { ...CREDS, sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDLB' } });
  t.ok(withToken.headers['x-amz-security-token'] !== undefined);
  t.same(await verifySigV4(withToken, options({ secretFor: sessionKeys.secretFor })), { ok: false, reason: 'unknown-key' }, 'x-amz-security-token');
  t.same(sessionKeys.calls, []);
});

t.test('a date outside the allowed skew: expired', async (t) => {
  const keys = keyring();
  for (const offset of [-5 * 60_000 - 1000, 5 * 60_000 + 1000, -24 * 3600_000, 365 * 24 * 3600_000]) {
    t.same(await verifySigV4(await signed({ date: NOW + offset }), options({ secretFor: keys.secretFor })), { ok: false, reason: 'expired' }, `offset ${offset} ms`);
  }
  t.same(keys.calls, [], 'no secret lookup for an expired request');
  for (const offset of [-4 * 60_000, 4 * 60_000, 0]) {
    t.ok((await verifySigV4(await signed({ date: NOW + offset }), options())).ok, `offset ${offset} ms is within 5 minutes`);
  }
  const minuteOld = await signed({ date: NOW - 60_000 });
  t.same(await verifySigV4(minuteOld, options({ maxSkewMs: 30_000 })), { ok: false, reason: 'expired' }, 'maxSkewMs');
  t.ok((await verifySigV4(minuteOld, options({ maxSkewMs: 120_000 }))).ok);
  await t.rejects(verifySigV4(minuteOld, options({ maxSkewMs: -1 })), RangeError);
});

t.test('another service in the credential scope: wrong-service', async (t) => {
  const keys = keyring();
  for (const service of ['personalize-events', 's3', 'execute-api']) {
    t.same(await verifySigV4(await signed({ service }), options({ secretFor: keys.secretFor })), { ok: false, reason: 'wrong-service' }, service);
  }
  t.same(keys.calls, []);
  t.ok((await verifySigV4(await signed({ service: 'execute-api' }), options({ service: 'execute-api' }))).ok, 'the service is the caller’s choice');
});

t.test('no Authorization header: missing', async (t) => {
  const request = await signed();
  t.same(await verifySigV4(withHeaders(request, { authorization: undefined }), options()), { ok: false, reason: 'missing' });
  t.same(await verifySigV4(withHeaders(request, { authorization: '' }), options()), { ok: false, reason: 'missing' });
  t.same(await verifySigV4({ method: 'GET', rawPath: '/', rawQuery: '', headers: {}, body: new Uint8Array() }, options()), { ok: false, reason: 'missing' });
});

t.test('ill-formed authentication: malformed', async (t) => {
  const request = await signed();
  const auth = authorizationOf(request);
  const credential = /Credential=(\S+),/.exec(auth)?.[1] ?? '';
  const signedHeaders = /SignedHeaders=(\S+),/.exec(auth)?.[1] ?? '';
  const signature = /Signature=(\S+)$/.exec(auth)?.[1] ?? '';
  const compose = (fields: string): string => `AWS4-HMAC-SHA256 ${fields}`;
  const authorizations: Array<[string, string | string[]]> = [
    ['bearer', 'Bearer atk_0123456789ab_secret'],
    ['algorithm only', 'AWS4-HMAC-SHA256'],
    ['sigv4a', auth.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256')],
    ['algorithm case', auth.replace('AWS4-HMAC-SHA256', 'aws4-hmac-sha256')],
    ['no signature', compose(`Credential=${credential}, SignedHeaders=${signedHeaders}`)],
    ['no credential', compose(`SignedHeaders=${signedHeaders}, Signature=${signature}`)],
    ['field twice', compose(`Credential=${credential}, Credential=${credential}, SignedHeaders=${signedHeaders}, Signature=${signature}`)],
    ['unknown field', `${auth}, Extra=1`],
    ['field name case', auth.replace('Credential=', 'credential=')],
    ['scope too short', auth.replace('/personalize/aws4_request', '/personalize')],
    ['scope too long', auth.replace('aws4_request', 'aws4_request/x')],
    ['scope terminator', auth.replace('aws4_request', 'aws5_request')],
    ['scope date', auth.replace(/Credential=(\w+)\/\d{8}/, 'Credential=$1/2026-01')],
    ['empty access key', auth.replace(CREDS.accessKeyId, '')],
    ['empty region', auth.replace('/us-east-1/', '//')],
    ['signature upper case', auth.replace(signature, signature.toUpperCase())],
    ['signature short', auth.replace(signature, signature.slice(1))],
    ['signed headers unsorted', auth.replace(signedHeaders, signedHeaders.split(';').reverse().join(';'))],
    ['signed headers repeated', auth.replace(signedHeaders, `host;${signedHeaders}`.split(';').sort().join(';'))],
    ['signed headers upper case', auth.replace('host', 'Host')],
    ['signed headers without host', auth.replace('host;', '')],
    ['signed headers without x-amz-date', auth.replace(';x-amz-date', '')],
    ['signed headers with authorization', auth.replace(signedHeaders, ['authorization', ...signedHeaders.split(';')].sort().join(';'))],
    ['sent twice', [auth, auth]],
  ];
  const keys = keyring();
  for (const [what, authorization] of authorizations) {
    t.same(await verifySigV4(withHeaders(request, { authorization }), options({ secretFor: keys.secretFor })), { ok: false, reason: 'malformed' }, what);
  }
  const requests: Array<[string, SigV4Request]> = [
    ['no x-amz-date', withHeaders(request, { 'x-amz-date': undefined })],
    ['x-amz-date in ISO 8601 extended form', withHeaders(request, { 'x-amz-date': '2026-01-15T12:30:25Z' })],
    ['x-amz-date impossible', withHeaders(request, { 'x-amz-date': '20260230T123025Z' })],
    ['x-amz-date twice', withHeaders(request, { 'x-amz-date': ['20260115T123025Z', '20260115T123025Z'] })],
    ['scope date is not the x-amz-date day', withHeaders(request, { authorization: auth.replace('/20260115/', '/20260114/') })],
    ['path not starting with /', { ...request, rawPath: 'events' }],
    ['query with +', { ...request, rawQuery: 'a=b+c' }],
    ['query with a bad escape', { ...request, rawQuery: 'a=%zz' }],
    ['query with an empty parameter', { ...request, rawQuery: 'a=1&&b=2' }],
    ['query with an empty name', { ...request, rawQuery: '=1' }],
    ['query with X-Amz-Signature', { ...request, rawQuery: `X-Amz-Signature=${signature}` }],
  ];
  for (const [what, malformed] of requests) {
    t.same(await verifySigV4(malformed, options({ secretFor: keys.secretFor })), { ok: false, reason: 'malformed' }, what);
  }
  t.same(keys.calls, [], 'no secret lookup for a malformed request');
  // What is well-formed though not how this SDK writes it.
  const fields = [`Credential=${credential}`, `SignedHeaders=${signedHeaders}`, `Signature=${signature}`];
  t.ok((await verifySigV4(withHeaders(request, { authorization: compose(fields.join(',')) }), options())).ok, 'commas without spaces');
  t.ok((await verifySigV4(withHeaders(request, { authorization: compose([...fields].reverse().join(', ')) }), options())).ok, 'fields in another order');
});

t.test('x-amz-content-sha256 must be the body hash', async (t) => {
  const request = await signed();
  const keys = keyring();
  const wrong = '0'.repeat(64);
  t.same(await verifySigV4(withHeaders(request, { 'x-amz-content-sha256': wrong }), options({ secretFor: keys.secretFor })), { ok: false, reason: 'bad-signature' }, 'mismatch');
  t.same(await verifySigV4(withHeaders(request, { 'x-amz-content-sha256': String(request.headers['x-amz-content-sha256']).toUpperCase() }), options()), { ok: false, reason: 'bad-signature' }, 'upper-case hex');
  // Signed as the SDK would sign a streamed body: the header's value is the payload hash.
  const unsigned = await signed({ headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
  t.equal(unsigned.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
  t.same(await verifySigV4(unsigned, options({ secretFor: keys.secretFor })), { ok: false, reason: 'bad-signature' }, 'UNSIGNED-PAYLOAD');
  t.same(keys.calls, []);
});

t.test('a failing secret lookup rejects', async (t) => {
  const request = await signed();
  const failure = new Error('store unavailable');
  await t.rejects(verifySigV4(request, options({ secretFor: () => Promise.reject(failure) })), failure);
});

interface Captured {
  request: SigV4Request;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A node:http server that records each request and answers with respond's status, headers and body. */
async function captureServer(respond: (captured: Captured) => { status: number; headers?: Record<string, string>; body: string }): Promise<{ port: number; captured: Captured[]; close: () => Promise<void> }> {
  const captured: Captured[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const entry: Captured = {
        url,
        headers: req.headers,
        request: { method: req.method ?? '', rawPath: q === -1 ? url : url.slice(0, q), rawQuery: q === -1 ? '' : url.slice(q + 1), headers: req.headers, body: Buffer.concat(chunks) },
      };
      captured.push(entry);
      const answer = respond(entry);
      res.writeHead(answer.status, { 'content-type': 'application/json', date: new Date().toUTCString(), ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    captured,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const liveOptions = (): SigV4Options => ({ secretFor: keyring().secretFor, service: 'personalize', nowMs: Date.now() });

t.test('end to end: PersonalizeEventsClient PutEvents', async (t) => {
  const server = await captureServer((captured) =>
    captured.request.body.length > 0 && Buffer.from(captured.request.body).toString().includes('"trackingId":"bad"')
      ? { status: 400, headers: { 'x-amzn-errortype': 'InvalidInputException' }, body: '{"message":"trackingId is unknown"}' }
      : { status: 200, body: '' },
  );
  t.teardown(server.close);
  const client = new PersonalizeEventsClient({ endpoint: `http://127.0.0.1:${server.port}`, region: 'us-west-2', credentials: CREDS, maxAttempts: 1 });
  t.teardown(() => client.destroy());
  const sentAt = new Date(Date.UTC(2026, 0, 15, 12, 0, 0, 250));
  const output = await client.send(
    new PutEventsCommand({
      trackingId: 'tracking-1',
      userId: 'user-1',
      sessionId: 'session 1/é',
      eventList: [
        { eventType: 'click', sentAt, itemId: 'item-1', eventValue: 2, properties: JSON.stringify({ numberOfRatings: 3 }), impression: ['item-1', 'item-2'], recommendationId: 'rec-1' },
        { eventId: 'e-2', eventType: 'rating', sentAt: new Date(Date.UTC(2026, 0, 15, 12, 0, 1)), eventValue: 4.5 },
      ],
    }),
  );
  t.equal(output.$metadata.httpStatusCode, 200);
  t.equal(server.captured.length, 1);
  const [{ request, headers }] = server.captured;
  t.has(await verifySigV4(request, liveOptions()), { ok: true, accessKeyId: CREDS.accessKeyId, region: 'us-west-2' });
  t.equal(request.method, 'POST');
  t.equal(request.rawPath, '/events');
  t.equal(request.rawQuery, '');
  t.equal(headers['content-type'], 'application/json');
  t.equal(headers.host, `127.0.0.1:${server.port}`);
  t.match(headers.authorization, /^AWS4-HMAC-SHA256 Credential=ATK0123456789AB\/\d{8}\/us-west-2\/personalize\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/);
  t.match(headers['x-amz-content-sha256'], /^[0-9a-f]{64}$/);
  t.match(headers['x-amz-date'], /^\d{8}T\d{6}Z$/);
  const body: unknown = JSON.parse(Buffer.from(request.body).toString('utf8'));
  t.same(body, {
    trackingId: 'tracking-1',
    userId: 'user-1',
    sessionId: 'session 1/é',
    eventList: [
      // Timestamps: epoch seconds as JSON numbers, milliseconds as a fraction; properties stay a JSON string.
      { eventType: 'click', sentAt: 1768478400.25, itemId: 'item-1', eventValue: 2, properties: '{"numberOfRatings":3}', impression: ['item-1', 'item-2'], recommendationId: 'rec-1' },
      { eventId: 'e-2', eventType: 'rating', sentAt: 1768478401, eventValue: 4.5 },
    ],
  });

  // How an error reaches the caller: the type from x-amzn-errortype, the text from the body's message.
  const error = await client.send(new PutEventsCommand({ trackingId: 'bad', sessionId: 's', eventList: [{ eventType: 'click', sentAt }] })).then(
    () => null,
    (e: unknown) => e,
  );
  t.match(error, { name: 'InvalidInputException', message: 'trackingId is unknown', $fault: 'client', $metadata: { httpStatusCode: 400 } });
  t.has(await verifySigV4(server.captured[1].request, liveOptions()), { ok: true, accessKeyId: CREDS.accessKeyId, region: 'us-west-2' });
});

t.test('end to end: PersonalizeRuntimeClient GetRecommendations', async (t) => {
  const server = await captureServer(() => ({
    status: 200,
    body: JSON.stringify({ itemList: [{ itemId: 'item-9', score: 0.75 }, { itemId: 'item-3' }], recommendationId: 'rid-1' }),
  }));
  t.teardown(server.close);
  const client = new PersonalizeRuntimeClient({ endpoint: `http://127.0.0.1:${server.port}`, region: 'us-west-2', credentials: CREDS, maxAttempts: 1 });
  t.teardown(() => client.destroy());
  const output = await client.send(
    new GetRecommendationsCommand({ campaignArn: 'arn:aws:personalize:us-west-2:000000000000:campaign/attune', userId: 'user-1', numResults: 5, context: { DEVICE: 'mobile' }, filterValues: { GENRE: '"drama"' } }),
  );
  t.same(output.itemList, [{ itemId: 'item-9', score: 0.75 }, { itemId: 'item-3' }]);
  t.equal(output.recommendationId, 'rid-1');
  const [{ request, headers }] = server.captured;
  t.has(await verifySigV4(request, liveOptions()), { ok: true, accessKeyId: CREDS.accessKeyId, region: 'us-west-2' });
  t.equal(request.method, 'POST');
  t.equal(request.rawPath, '/recommendations');
  t.equal(headers['content-type'], 'application/json');
  t.same(JSON.parse(Buffer.from(request.body).toString('utf8')), {
    campaignArn: 'arn:aws:personalize:us-west-2:000000000000:campaign/attune',
    userId: 'user-1',
    numResults: 5,
    context: { DEVICE: 'mobile' },
    filterValues: { GENRE: '"drama"' },
  });
  // Tampering with what the SDK sent is caught.
  t.same(await verifySigV4({ ...request, body: Buffer.from(Buffer.from(request.body).toString().replace('"numResults":5', '"numResults":9')) }, liveOptions()), {
    ok: false,
    reason: 'bad-signature',
  });
});

t.test('end to end: an endpoint with a base path and a trailing slash', async (t) => {
  const server = await captureServer(() => ({ status: 200, body: '{"itemList":[]}' }));
  t.teardown(server.close);
  const client = new PersonalizeRuntimeClient({ endpoint: `http://127.0.0.1:${server.port}/base/`, region: 'us-west-2', credentials: CREDS, maxAttempts: 1 });
  t.teardown(() => client.destroy());
  await client.send(new GetRecommendationsCommand({ recommenderArn: 'arn:aws:personalize:us-west-2:000000000000:recommender/r', userId: 'u' }));
  const [{ request }] = server.captured;
  // The SDK sends the double slash and signs the normalised path.
  t.equal(request.rawPath, '/base//recommendations');
  t.ok((await verifySigV4(request, liveOptions())).ok);
});
