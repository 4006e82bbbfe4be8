/**
 * What online metrics cost the event path: the time OnlineMetrics.eventsAccepted takes per event
 * (attribution, credit, Prometheus counters, the pending increment), against 200,000 remembered
 * lists for 100,000 sessions, half the events naming their list by recommendationId, half
 * credited to the session's last list; CPU time, GC included. Run: TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import scripts/online-metrics-bench.ts
 */
import { createMetrics } from '../src/ops/metrics.js';
import { OnlineMetrics } from '../src/ops/online-metrics.js';
import type { InteractionEntry } from '../src/session/events.js';
import { MemoryOnlineMetricsStore } from '../src/store/online-metrics.js';

const SESSIONS = 100_000;
const EVENTS = 1_000_000;
let now = 1_000_000;
const online = new OnlineMetrics({
  store: new MemoryOnlineMetricsStore(),
  metrics: createMetrics(),
  windowMs: 30 * 60_000,
  flushMs: 3600_000,
  maxLists: 200_000,
  armOf: () => 'live',
  purchaseEventType: () => 'purchase',
  onError: (err) => {
    throw err;
  },
  now: () => now,
});
const items = Array.from({ length: 20 }, (_, i) => ({ itemId: `item-${i}` }));
for (let s = 0; s < SESSIONS; s++) {
  for (const round of [0, 1]) online.listShown({ sessionId: `s${s}`, userId: null, recipe: 'push', list: { recommendationId: `r${s}-${round}`, modelVersion: 'v1', items } });
}
now += 1000;
const entryOf = (i: number): InteractionEntry => {
  const s = i % SESSIONS;
  return {
    kind: 'interaction',
    eventId: `${now}-${i}`,
    sessionId: `s${s}`,
    eventType: i % 10 === 9 ? 'purchase' : 'click',
    itemId: `item-${i % 20}`,
    sentAt: now,
    receivedAt: now,
    ...(i % 2 === 0 ? { recommendationId: `r${s}-0` } : {}),
    ...(i % 10 === 9 ? { eventValue: 9.99 } : {}),
  };
};
let sink = 0;
/** CPU time of the process in ns: the machine may be shared, and waiting for a core is no cost of the code. */
const cpuNs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
};
for (let round = 0; round < 3; round++) {
  // The same events made and dropped without online metrics: what the loop itself costs.
  let started = cpuNs();
  for (let i = 0; i < EVENTS; i++) sink += entryOf(i + round * EVENTS).itemId.length;
  const baseNs = cpuNs() - started;
  started = cpuNs();
  for (let i = 0; i < EVENTS; i++) online.eventsAccepted([entryOf(i + round * EVENTS)]);
  const ns = cpuNs() - started - baseNs;
  console.log(`round ${round + 1}: ${EVENTS} events: ${(ns / EVENTS / 1000).toFixed(2)} us of CPU per event for online metrics (${(baseNs / EVENTS / 1000).toFixed(2)} us to make each event)`);
}
console.log(`remembered: ${JSON.stringify(online.remembered)} (${sink > 0 ? 'ok' : ''})`);
await online.close();
