import t from 'tap';
import { AttuneError } from '../../src/errors.js';
import { SessionRateLimited, type EventSource } from '../../src/serving/index.js';
import { sessionKey, userKey } from '../../src/session/events.js';
import { counted, servingFixture } from './fixture.js';

const view = (itemId: string, sentAt = 1_000_000) => ({ eventType: 'view', itemId, sentAt });
const overHttp = (sessionId: string, userId: string | null = null): EventSource => ({ via: 'http', sessionId, userId, link: true, optedOut: false });
const overSocket = (sessionId: string, userId: string | null, optedOut = false): EventSource => ({ via: 'socket', sessionId, userId, link: false, optedOut });

t.test('accepted events are in the log, acknowledged by id, and counted', async (t) => {
  const { ingest, stores, metrics } = servingFixture(t);
  const accepted = await ingest.accept(overHttp('s1'), [view('m1'), view('m2')]);
  const logged = await stores.log.read(sessionKey('s1'), null);
  t.strictSame(accepted, { eventIds: logged.map((entry) => entry.eventId) });
  t.equal(accepted.eventIds.length, 2);
  t.equal(await counted(metrics.putEventsRequests, { transport: 'http', outcome: 'accepted' }), 1);
});

t.test('a resent event (same client eventId) is answered with the first ack, stored once, applied once', async (t) => {
  const { ingest, stores, metrics, host } = servingFixture(t);
  const first = await ingest.accept(overHttp('s-dup'), [{ ...view('m1'), eventId: 'e-1' }, { ...view('m2'), eventId: 'e-2' }]);
  const again = await ingest.accept(overHttp('s-dup'), [{ ...view('m2'), eventId: 'e-2' }, { ...view('m3'), eventId: 'e-3' }]);
  const logged = await stores.log.read(sessionKey('s-dup'), null);
  t.strictSame(logged.map((entry) => (entry.kind === 'interaction' ? [entry.itemId, entry.clientEventId] : null)), [['m1', 'e-1'], ['m2', 'e-2'], ['m3', 'e-3']]);
  t.strictSame(again.eventIds, [first.eventIds[1], logged[2].eventId], 'the resend gets the id the first put got');
  t.equal((await host.currentState(sessionKey('s-dup'))).eventCount, 3, 'the state counts each event once');
  t.equal((await metrics.eventsAccepted.get()).values[0]?.value, 3);
});

t.test('an HTTP put links the session to its user; a socket, linked when it was welcomed, does not', async (t) => {
  const { ingest, stores } = servingFixture(t);
  await ingest.accept(overHttp('s-http', 'u1'), [view('m1')]);
  t.equal(await stores.identities.userOf('s-http'), 'u1');
  t.equal((await stores.log.read(userKey('u1'), null)).length, 1, 'the event went to the user');

  await ingest.accept(overSocket('s-sock', 'u2'), [view('m1')]);
  t.equal(await stores.identities.userOf('s-sock'), null);
  t.equal((await stores.log.read(sessionKey('s-sock'), null)).length, 1, 'the event went to the session the socket is on');
});

t.test("an opted-out user's events are acknowledged and not stored", async (t) => {
  const { ingest, stores, metrics, optOut } = servingFixture(t);
  await optOut('u-out');
  t.strictSame(await ingest.accept(overHttp('s1', 'u-out'), [view('m1')]), { eventIds: [], optedOut: true });
  t.strictSame(await ingest.accept(overSocket('s2', 'u-out'), [view('m1')]), { eventIds: [], optedOut: true });
  t.strictSame(await stores.log.keys(''), [], 'nothing was logged');
  t.equal(await stores.identities.userOf('s1'), null, 'nor linked');
  t.equal(await counted(metrics.putEventsRequests, { transport: 'http', outcome: 'opted-out' }), 1);
  t.equal(await counted(metrics.putEventsRequests, { transport: 'socket', outcome: 'opted-out' }), 1);
});

t.test('a socket seen opted out keeps dropping, whatever the consent cache says since', async (t) => {
  const { ingest, stores } = servingFixture(t);
  t.strictSame(await ingest.accept(overSocket('s1', 'u-back', true), [view('m1')]), { eventIds: [], optedOut: true });
  t.strictSame(await stores.log.keys(''), []);
});

t.test('the session bucket refuses what it cannot pay for, with when to retry, per transport', async (t) => {
  const { ingest, sessionLimits, stores, metrics, clock } = servingFixture(t, { burst: 3 });
  t.equal((await ingest.accept(overHttp('s1'), [view('m1'), view('m2')])).eventIds.length, 2);
  // One token left; two more come one a second.
  const refused = await ingest.accept(overHttp('s1'), [view('m3'), view('m4')]).then(
    () => null,
    (err: unknown) => err,
  );
  t.type(refused, SessionRateLimited);
  t.match(refused, { code: 'ATTUNE_ERR_RATE_LIMITED', statusCode: 429, retryAfterMs: 1000, message: 'too many events for session s1: retry in 1000 ms' });
  t.equal((await stores.log.read(sessionKey('s1'), null)).length, 2, 'the refused put stored nothing');
  t.equal(await counted(metrics.putEventsRequests, { transport: 'http', outcome: 'rejected' }), 1);
  t.equal(await counted(metrics.refusals, { transport: 'http', reason: 'session_rate_limited' }), 1);

  // A socket's connect and identify draw on the same bucket as its events.
  t.equal(sessionLimits.take('s1', 'socket'), null, 'the last token');
  t.match(sessionLimits.take('s1', 'socket'), { code: 'ATTUNE_ERR_RATE_LIMITED', retryAfterMs: 1000, message: 'too many connections and messages for this session: retry in 1000 ms' });
  await t.rejects(ingest.accept(overSocket('s1', null), [view('m3')]), { code: 'ATTUNE_ERR_RATE_LIMITED' });
  t.equal(await counted(metrics.refusals, { transport: 'socket', reason: 'session_rate_limited' }), 2);
  t.equal(await counted(metrics.putEventsRequests, { transport: 'socket', outcome: 'rejected' }), 1);

  clock.now += 1000;
  t.equal((await ingest.accept(overSocket('s1', null), [view('m3')])).eventIds.length, 1, 'a second later, one more');
  t.equal(sessionLimits.take('s2', 'socket'), null, 'other sessions have their own bucket');
});

t.test('a batch the actor host refuses is counted rejected and thrown as it was', async (t) => {
  const { ingest, stores, metrics } = servingFixture(t);
  const refused = await ingest.accept(overHttp('s1'), [view('m1'), { eventType: 'view', itemId: 'm2', sentAt: 'yesterday' }]).then(
    () => null,
    (err: unknown) => err,
  );
  t.type(refused, AttuneError);
  t.match(refused, { code: 'ATTUNE_ERR_VALIDATION', message: 'eventList[1].sentAt is not a valid time' });
  t.strictSame(await stores.log.keys(''), []);
  t.equal(await counted(metrics.putEventsRequests, { transport: 'http', outcome: 'rejected' }), 1);
});
