import { createHmac, randomBytes } from 'node:crypto';
import t from 'tap';
import { MAX_SOCKET_TOKEN_LENGTH, signSocketToken, verifySocketToken } from '../../src/security/socket-tokens.js';

const SECRET = 'socket-token-secret-for-tests-0123456789';
const NOW_S = 1_700_000_000;

/** Signs any payload the way the module does (the wire format), to test what verify accepts. */
function signRaw(payloadJson: string, secret = SECRET): string {
  const payload = Buffer.from(payloadJson, 'utf8').toString('base64url');
  const mac = createHmac('sha256', secret).update('attune.socket-token.v1:').update(payload).digest('base64url');
  return `${payload}.${mac}`;
}

t.test('round trip, with and without a userId', async (t) => {
  const withUser = signSocketToken(SECRET, { sessionId: 'tab-1', userId: 'u-42', expiresAt: NOW_S + 60 });
  t.match(withUser, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  t.strictSame(verifySocketToken(SECRET, withUser, NOW_S), { ok: true, claims: { sessionId: 'tab-1', userId: 'u-42', expiresAt: NOW_S + 60 } });
  const anonymous = signSocketToken(SECRET, { sessionId: 'tab-2', expiresAt: NOW_S + 60 });
  t.strictSame(verifySocketToken(SECRET, anonymous, NOW_S), { ok: true, claims: { sessionId: 'tab-2', expiresAt: NOW_S + 60 } });
  t.equal(signRaw(JSON.stringify({ sessionId: 'tab-2', expiresAt: NOW_S + 60 })), anonymous, 'the wire format is exactly this');
  const unicode = signSocketToken(SECRET, { sessionId: 'séance-😀', expiresAt: NOW_S + 1 });
  t.strictSame(verifySocketToken(SECRET, unicode, NOW_S), { ok: true, claims: { sessionId: 'séance-😀', expiresAt: NOW_S + 1 } });
});

t.test('expired: accepted strictly before expiresAt', async (t) => {
  const token = signSocketToken(SECRET, { sessionId: 's', expiresAt: NOW_S });
  t.equal(verifySocketToken(SECRET, token, NOW_S - 1).ok, true);
  t.strictSame(verifySocketToken(SECRET, token, NOW_S), { ok: false, reason: 'expired' });
  t.strictSame(verifySocketToken(SECRET, token, NOW_S + 3600), { ok: false, reason: 'expired' });
});

t.test('forged or tampered tokens and a wrong secret fail the signature', async (t) => {
  const token = signSocketToken(SECRET, { sessionId: 'victim', expiresAt: NOW_S + 60 });
  const [payload, mac] = token.split('.');

  t.strictSame(verifySocketToken('another-secret-of-enough-length-000000', token, NOW_S), { ok: false, reason: 'bad-signature' });
  t.strictSame(verifySocketToken(SECRET, signRaw(JSON.stringify({ sessionId: 'victim', expiresAt: NOW_S + 60 }), 'guessed'), NOW_S), { ok: false, reason: 'bad-signature' });
  t.strictSame(verifySocketToken(SECRET, `${payload}.${randomBytes(32).toString('base64url')}`, NOW_S), { ok: false, reason: 'bad-signature' });
  t.strictSame(verifySocketToken(SECRET, `${payload}.${randomBytes(31).toString('base64url')}`, NOW_S), { ok: false, reason: 'bad-signature' }, 'a short signature');

  const tampered = Buffer.from(JSON.stringify({ sessionId: 'attacker', expiresAt: NOW_S + 60 })).toString('base64url');
  t.strictSame(verifySocketToken(SECRET, `${tampered}.${mac}`, NOW_S), { ok: false, reason: 'bad-signature' });
  const extended = Buffer.from(JSON.stringify({ sessionId: 'victim', expiresAt: NOW_S + 999_999 })).toString('base64url');
  t.strictSame(verifySocketToken(SECRET, `${extended}.${mac}`, NOW_S), { ok: false, reason: 'bad-signature' });
  // A MAC of the bare payload (no context prefix), as another HMAC use of the secret might make.
  const bare = createHmac('sha256', SECRET).update(payload).digest('base64url');
  t.strictSame(verifySocketToken(SECRET, `${payload}.${bare}`, NOW_S), { ok: false, reason: 'bad-signature' });
});

t.test('malformed: not two canonical base64url parts, too long, or claims of the wrong shape', async (t) => {
  const token = signSocketToken(SECRET, { sessionId: 's', expiresAt: NOW_S + 60 });
  const [payload, mac] = token.split('.');
  const malformed = { ok: false, reason: 'malformed' };
  for (const bad of [undefined, null, 42, { token }, '', '.', 'abc', `${token}.`, `${payload}.${mac}.${mac}`, `${payload}=.${mac}`, `${payload}.${mac}=`, `${payload}+.${mac}`, `.${mac}`, `${payload}.`, ` ${token}`]) {
    t.strictSame(verifySocketToken(SECRET, bad, NOW_S), malformed, JSON.stringify(bad));
  }
  t.strictSame(verifySocketToken(SECRET, `${'a'.repeat(MAX_SOCKET_TOKEN_LENGTH - 44)}.${mac}`, NOW_S), { ok: false, reason: 'bad-signature' }, '2048 characters are read');
  t.strictSame(verifySocketToken(SECRET, `${'a'.repeat(MAX_SOCKET_TOKEN_LENGTH - 43)}.${mac}`, NOW_S), malformed, '2049 are not');

  // Signed with the right secret, but not exactly {sessionId, userId?, expiresAt} with their types.
  for (const claims of [
    'not json',
    '[]',
    'null',
    '"tab"',
    JSON.stringify({ sessionId: 's' }),
    JSON.stringify({ expiresAt: NOW_S + 60 }),
    JSON.stringify({ sessionId: 's', expiresAt: NOW_S + 60, admin: true }),
    JSON.stringify({ sessionId: '', expiresAt: NOW_S + 60 }),
    JSON.stringify({ sessionId: 7, expiresAt: NOW_S + 60 }),
    JSON.stringify({ sessionId: 's', userId: 7, expiresAt: NOW_S + 60 }),
    JSON.stringify({ sessionId: 's', userId: '', expiresAt: NOW_S + 60 }),
    JSON.stringify({ sessionId: 's', userId: null, expiresAt: NOW_S + 60 }),
    JSON.stringify({ sessionId: 's', expiresAt: String(NOW_S + 60) }),
    JSON.stringify({ sessionId: 's', expiresAt: NOW_S + 60.5 }),
    JSON.stringify({ sessionId: 's', expiresAt: 1e300 }),
  ]) {
    t.strictSame(verifySocketToken(SECRET, signRaw(claims), NOW_S), malformed, claims);
  }
});

t.test('signSocketToken refuses what verify would refuse, and an empty secret', async (t) => {
  t.throws(() => signSocketToken(SECRET, { sessionId: '', expiresAt: NOW_S }), RangeError);
  t.throws(() => signSocketToken(SECRET, { sessionId: 's', userId: '', expiresAt: NOW_S }), RangeError);
  t.throws(() => signSocketToken(SECRET, { sessionId: 's', expiresAt: NOW_S + 0.5 }), RangeError);
  t.throws(() => signSocketToken(SECRET, { sessionId: 's'.repeat(2000), expiresAt: NOW_S }), /over 2048/);
  t.throws(() => signSocketToken('', { sessionId: 's', expiresAt: NOW_S }), /secret is empty/);
  t.throws(() => verifySocketToken('', 'a.b', NOW_S), /secret is empty/);
});
