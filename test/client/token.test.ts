import t from 'tap';
import { holdToken, needsRefresh, refreshAtMs } from '../../clients/js/src/token.js';
import { signSocketToken } from '../../src/security/socket-tokens.js';

const NOW = 1_800_000_000_000;

t.test('a grant from POST /v1/tokens: its expiresAt (epoch seconds) is the expiry', async (t) => {
  t.strictSame(holdToken({ token: 'abc.def', expiresAt: 1_800_000_010 }, NOW), { token: 'abc.def', expiresAtMs: 1_800_000_010_000, fetchedAtMs: NOW });
});

t.test('a bare token: the expiry is read from its claims', async (t) => {
  const token = signSocketToken('s'.repeat(32), { sessionId: 'a session ünïcode', userId: 'u', expiresAt: 1_800_003_600 });
  t.strictSame(holdToken(token, NOW), { token, expiresAtMs: 1_800_003_600_000, fetchedAtMs: NOW });
  t.strictSame(holdToken('not-a-token', NOW), { token: 'not-a-token', expiresAtMs: null, fetchedAtMs: NOW }, 'unreadable: expiry unknown');
});

t.test('anything else is no token', async (t) => {
  for (const value of [null, undefined, '', 42, {}, { token: '' }, { token: 7, expiresAt: 1 }]) t.equal(holdToken(value, NOW), null, JSON.stringify(value) ?? 'undefined');
});

t.test('refreshed a fifth of its lifetime ahead, at most a minute ahead', async (t) => {
  const held = (lifetimeMs: number) => ({ token: 't', expiresAtMs: NOW + lifetimeMs, fetchedAtMs: NOW });
  t.equal(refreshAtMs(held(10_000)), NOW + 8_000, 'a 10 s token at 8 s');
  t.equal(refreshAtMs(held(3_600_000)), NOW + 3_540_000, 'a one-hour token at 59 minutes');
  t.equal(refreshAtMs(held(0)), null, 'expired when fetched (a clock ahead of the server): no timer');
  t.equal(refreshAtMs({ token: 't', expiresAtMs: null, fetchedAtMs: NOW }), null, 'unknown expiry: no timer');
});

t.test('needsRefresh: before a connect', async (t) => {
  const held = { token: 't', expiresAtMs: NOW + 10_000, fetchedAtMs: NOW };
  t.equal(needsRefresh(null, NOW), true, 'no token yet');
  t.equal(needsRefresh(held, NOW + 7_999), false);
  t.equal(needsRefresh(held, NOW + 8_000), true, 'at the refresh time');
  t.equal(needsRefresh({ ...held, expiresAtMs: NOW - 1 }, NOW), true, 'expired by this clock: each connect fetches');
  t.equal(needsRefresh({ ...held, expiresAtMs: null }, NOW + 10 ** 9), false, 'unknown expiry: used until refused');
});
