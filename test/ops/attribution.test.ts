import t from 'tap';
import { attribute, ServedLists, viewersOf, type ServedList } from '../../src/ops/attribution.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { OnlineMetrics, type ListShown } from '../../src/ops/online-metrics.js';
import type { InteractionEntry } from '../../src/session/events.js';
import { MemoryOnlineMetricsStore, zeroCounts, type OnlineCounts } from '../../src/store/online-metrics.js';

const WINDOW_MS = 30 * 60_000;

function scripted() {
  let now = 0;
  const metrics = createMetrics();
  const store = new MemoryOnlineMetricsStore(() => now);
  const online = new OnlineMetrics({
    store,
    metrics,
    windowMs: WINDOW_MS,
    flushMs: 3600_000,
    maxLists: 200_000,
    armOf: () => 'live',
    purchaseEventType: () => 'purchase',
    onError: (err) => {
      throw err;
    },
    now: () => now,
  });
  let ids = 0;
  const show = (at: number, shown: Omit<ListShown, 'list'> & { id: string; items: string[]; modelVersion?: string }) => {
    now = at;
    online.listShown({ ...shown, list: { recommendationId: shown.id, modelVersion: shown.modelVersion ?? 'v1', items: shown.items.map((itemId) => ({ itemId })) } });
  };
  const event = (at: number, eventType: string, itemId: string, extra: Partial<InteractionEntry> = {}): InteractionEntry => {
    const entry: InteractionEntry = { kind: 'interaction', eventId: `${at}-${ids++}`, sessionId: 's1', eventType, itemId, sentAt: at, receivedAt: at, ...extra };
    now = at;
    online.eventsAccepted([entry]);
    return entry;
  };
  return { online, metrics, show, event, setNow: (ms: number) => (now = ms) };
}

const counts = (partial: Partial<OnlineCounts>): OnlineCounts => ({ ...zeroCounts(), ...partial });

t.test('a scripted session: each event is credited to the list that caused it, exactly', async (t) => {
  const { online, metrics, show, event } = scripted();
  show(1000, { sessionId: 's1', recipe: 'push', id: 'p1', items: ['a', 'b', 'c'] });
  show(2000, { sessionId: 's1', recipe: 'recommendations', id: 'r1', items: ['c', 'd'] });
  event(3000, 'click', 'a', { recommendationId: 'p1' }); // named: p1, although r1 is the last list
  event(3500, 'view', 'a', { recommendationId: 'p1' }); // the same item of the same list again: no second click-through
  event(4000, 'click', 'd'); // no id: the last list, r1
  event(4500, 'click', 'a'); // the last list (r1) did not show it
  event(5000, 'add-to-cart', 'd');
  const bought = event(6000, 'purchase', 'd', { eventValue: 20 });
  online.eventsAccepted([bought]); // a resend: the same log id
  event(6200, 'purchase', 'c', { eventValue: 10 }); // r1 again: its revenue grows to 30
  event(6500, 'purchase', 'c', { recommendationId: 'p1', eventValue: 5 });
  event(7000, 'click', 'x', { recommendationId: 'nope' }); // never served
  event(7000, 'rate', 'c'); // not an engagement: neither credited nor counted
  event(7100, 'click', 'a', { sessionId: 's2' }); // nothing was shown to s2
  show(8000, { userId: 'u1', recipe: 'related', id: 'rel', items: ['e', 'f'] }); // asked for by user only
  event(9000, 'click', 'e', { sessionId: 's3', userId: 'u1' }); // the user's list, from another session
  show(9500, { sessionId: 's1', userId: null, recipe: 'push', id: 'p1', items: ['a', 'b', 'c'] }); // p1 reaches a second socket: counted once
  // A push caused by an event may leave in the very millisecond the event came: the event is the earlier list's.
  show(10_000, { sessionId: 's4', recipe: 'push', id: 'la', items: ['g', 'h'] });
  show(10_200, { sessionId: 's4', recipe: 'push', id: 'lb', items: ['g'] });
  event(10_200, 'click', 'g', { sessionId: 's4' });
  event(2000 + WINDOW_MS + 1, 'click', 'c'); // s1's last list is r1 (p1 re-sent still dates from 1000): too old
  event(10_000 + WINDOW_MS + 1, 'click', 'h', { sessionId: 's4', recommendationId: 'la' }); // named, but too old
  event(10_200 + WINDOW_MS + 1, 'click', 'g', { sessionId: 's4' }); // lb is the last list, too old

  const report = await online.report(0);
  const row = (recipe: string) => report.rows.find((r) => r.recipe === recipe);
  t.match(row('push'), { modelVersion: 'v1', arm: 'live', lists: 3, impressions: 6, clicks: 2, addToCarts: 0, purchases: 1, revenue: 5 });
  t.match(row('recommendations'), { lists: 1, impressions: 2, clicks: 1, addToCarts: 1, purchases: 2, revenue: 30 });
  t.match(row('related'), { lists: 1, impressions: 2, clicks: 1, purchases: 0, revenue: 0 });
  t.equal(report.rows.length, 3);
  t.match(report.total, { lists: 5, impressions: 10, clicks: 4, addToCarts: 1, purchases: 3, revenue: 35 });
  t.strictSame(report.byArm.map((arm) => [arm.arm, arm.lists]), [['live', 5]]);
  t.strictSame(report.byModelVersion.map((v) => [v.modelVersion, v.clicks]), [['v1', 4]]);
  t.strictSame(report.byRecipe.map((r) => r.recipe), ['push', 'recommendations', 'related']);

  const unattributed = (await metrics.onlineUnattributed.get()).values.map((v) => [v.labels.engagement, v.labels.reason, v.value]).sort();
  t.strictSame(unattributed, [
    ['click', 'no-list', 1],
    ['click', 'not-in-list', 1],
    ['click', 'outside-window', 3],
    ['click', 'unknown-id', 1],
  ]);
  const series = async (counter: keyof typeof metrics) => {
    const metric = metrics[counter];
    if (!('get' in metric)) throw new Error(`${String(counter)} is not a metric`);
    const values = (await metric.get()).values as Array<{ labels: Record<string, string | number>; value: number }>;
    return Object.fromEntries(values.map((v) => [String(v.labels.recipe), v.value]));
  };
  t.strictSame(await series('onlineLists'), { push: 3, recommendations: 1, related: 1 }, 'the Prometheus counters say the same');
  t.strictSame(await series('onlineImpressions'), { push: 6, recommendations: 2, related: 2 });
  t.strictSame(await series('onlineClicks'), { push: 2, recommendations: 1, related: 1 });
  t.strictSame(await series('onlineAddToCarts'), { recommendations: 1 });
  t.strictSame(await series('onlinePurchases'), { push: 1, recommendations: 2 });
  t.strictSame(await series('onlineRevenue'), { push: 5, recommendations: 30 });
  await online.close();
});

t.test('revenue per list: the sum of squares of each list\'s revenue stays exact as a list earns more', async (t) => {
  const { online, show, event } = scripted();
  show(1000, { sessionId: 's1', recipe: 'push', id: 'p1', items: ['a', 'b'] });
  show(1000, { sessionId: 's2', recipe: 'push', id: 'p2', items: ['a'] });
  show(1000, { sessionId: 's3', recipe: 'push', id: 'p3', items: ['a'] });
  show(1000, { sessionId: 's4', recipe: 'push', id: 'p4', items: ['a'] });
  event(2000, 'purchase', 'a', { eventValue: 10 });
  event(2100, 'purchase', 'b', { eventValue: 20 });
  event(2200, 'purchase', 'a', { eventValue: 10, sessionId: 's2' });
  // Lists earned 30, 10, 0, 0: sum 40, sum of squares 1000.
  const rows = await (async () => {
    await online.flush();
    return (await online.report(0)).rows;
  })();
  t.match(rows[0], { lists: 4, purchases: 3, revenue: 40, revenuePerList: { value: 10 } });
  const { low, high } = rows[0].revenuePerList ?? { low: NaN, high: NaN };
  // mean 10, sample variance (1000 - 1600/4) / 3 = 200, half-width 1.96 * sqrt(200 / 4).
  t.ok(Math.abs(low - (10 - 1.959963984540054 * Math.sqrt(50))) < 1e-9, `low ${low}`);
  t.ok(Math.abs(high - (10 + 1.959963984540054 * Math.sqrt(50))) < 1e-9, `high ${high}`);
});

t.test('counts reach the store by minute on flush; since starts at its minute', async (t) => {
  const { online, show, event, setNow } = scripted();
  show(60_000 * 10 + 5, { sessionId: 's1', recipe: 'push', id: 'p1', items: ['a', 'b'] });
  event(60_000 * 11 + 5, 'click', 'a');
  setNow(60_000 * 12);
  await online.flush();
  t.match((await online.report(60_000 * 11 + 30_000)).total, { lists: 0, impressions: 0, clicks: 1 }, 'only the minute of the click');
  t.match((await online.report(60_000 * 10 + 59_999)).total, { lists: 1, impressions: 2, clicks: 1 });
});

t.test('served lists are bounded: the least recently used are forgotten', async (t) => {
  const lists = new ServedLists({ maxLists: 2, maxKeys: 2 });
  const list = (id: string, session: string, at: number): ServedList => ({ recommendationId: id, viewers: viewersOf(session, null), items: ['a'], at, dims: { modelVersion: 'v', recipe: 'push', arm: 'live' } });
  lists.add(list('r1', 's1', 1));
  lists.add(list('r2', 's2', 2));
  lists.add(list('r3', 's3', 3));
  t.strictSame(lists.size, { lists: 2, keys: 2 });
  const click = (session: string, recommendationId?: string) => attribute({ eventId: 'e', viewers: viewersOf(session, null), itemId: 'a', engagement: 'click', at: 10, ...(recommendationId === undefined ? {} : { recommendationId }) }, lists, WINDOW_MS);
  t.match(click('s1', 'r1'), { list: null, reason: 'unknown-id' });
  t.match(click('s1'), { list: null, reason: 'no-list' });
  t.match(click('s2', 'r2'), { via: 'recommendation-id', list: { recommendationId: 'r2' } });
  t.match(click('s3'), { via: 'last-list', list: { recommendationId: 'r3' } });
});
