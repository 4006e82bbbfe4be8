import type { InteractionEntry } from '../session/events.js';
import { addCounts, dimensionsKey, minuteOf, type ListDimensions, type MinuteIncrements, type OnlineCounts, type OnlineCountsRow, type OnlineMetricsStore } from '../store/online-metrics.js';
import { attribute, credit, engagementOf, served, ServedLists, viewersOf, type Recipe, type TrackedList } from './attribution.js';
import type { Metrics } from './metrics.js';
import { onlineReport } from './online-stats.js';

/** A list leaving this node, as the socket gateway and the HTTP routes report it. */
export interface ListShown {
  /** The session and (pseudonymized) user it is shown to, as far as known. */
  sessionId?: string | null;
  userId?: string | null;
  recipe: Recipe;
  list: { recommendationId: string; modelVersion: string; items: ReadonlyArray<{ itemId: string }> };
}

export interface OnlineMetricsDeps {
  store: OnlineMetricsStore;
  metrics: Metrics;
  windowMs: number;
  flushMs: number;
  /** The experiment arm of a list shown to a session or user (LIVE_ARM outside experiments). */
  armOf: (shown: { sessionId: string | null; userId: string | null; modelVersion: string }) => string;
  /** The event type that is a purchase (the served model's reducer config). */
  purchaseEventType: () => string;
  onError: (err: unknown, context: string) => void;
  now?: () => number;
  /** Lists remembered by id, and sessions (or users) whose latest lists are remembered. */
  maxLists: number;
}

/**
 * A node's online metrics: it remembers the lists it serves (bounded), credits each accepted
 * event to the list that caused it (src/ops/attribution.ts), counts both in Prometheus counters
 * at once and in per-minute increments that it adds to the shared store every `flushMs`, so the
 * store holds the whole deployment's counts. Everything on the event path is synchronous and in
 * memory: a map lookup and a few additions.
 */
export class OnlineMetrics {
  private readonly lists: ServedLists;
  private readonly now: () => number;
  /** Counts not yet in the store, by minute and dimensions. */
  private pending = new Map<number, Map<string, OnlineCountsRow>>();
  private timer: NodeJS.Timeout | null = null;
  /** The Prometheus counters' children per dimensions: labels are hashed once, not per event. */
  private readonly counters = new Map<string, PrometheusCounters>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: OnlineMetricsDeps) {
    this.now = deps.now ?? Date.now;
    this.lists = new ServedLists({ maxLists: deps.maxLists, maxKeys: deps.maxLists });
  }

  /** A list left this node (a list pushed to two sockets of a session on this node counts once). */
  listShown(shown: ListShown): void {
    // Counting never fails what is counted (a socket's emit, an HTTP answer).
    try {
      this.countShown(shown);
    } catch (err) {
      this.deps.onError(err, 'count a list shown');
    }
  }

  /**
   * Events this node received are in the log, as their acknowledgement names them (a resend names
   * the first one's log id, and is credited once).
   */
  eventsAccepted(entries: readonly InteractionEntry[]): void {
    try {
      this.attributeAll(entries);
    } catch (err) {
      this.deps.onError(err, 'attribute events');
    }
  }

  private countShown(shown: ListShown): void {
    const { recipe, list } = shown;
    const sessionId = shown.sessionId ?? null;
    const userId = shown.userId ?? null;
    const dims: ListDimensions = { modelVersion: list.modelVersion, recipe, arm: this.deps.armOf({ sessionId, userId, modelVersion: list.modelVersion }) };
    const tracked = this.lists.add({ recommendationId: list.recommendationId, viewers: viewersOf(sessionId, userId), items: list.items.map((item) => item.itemId), at: this.now(), dims });
    if (tracked !== null) this.count(tracked.at, tracked, served(tracked));
  }

  private attributeAll(entries: readonly InteractionEntry[]): void {
    const purchaseEventType = this.deps.purchaseEventType();
    for (const entry of entries) {
      const engagement = engagementOf(entry.eventType, purchaseEventType);
      if (engagement === null) continue;
      const event = {
        eventId: entry.eventId,
        viewers: viewersOf(entry.sessionId, entry.userId),
        itemId: entry.itemId,
        engagement,
        at: entry.receivedAt,
        ...(entry.recommendationId === undefined ? {} : { recommendationId: entry.recommendationId }),
      };
      const found = attribute(event, this.lists, this.deps.windowMs);
      if (found.list === null) {
        this.deps.metrics.onlineUnattributed.inc({ engagement, reason: found.reason });
        continue;
      }
      const value = engagement === 'purchase' && entry.eventValue !== undefined && Number.isFinite(entry.eventValue) ? entry.eventValue : 0;
      this.count(event.at, found.list, credit(found.list, event, value));
    }
  }

  /** Adds the counts held here to the store every `flushMs`. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.deps.flushMs);
    this.timer.unref();
  }

  /**
   * Adds the counts held here to the store. One flush at a time; counts that could not be added
   * stay for the next one.
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending;
      if (batch.size === 0) return;
      this.pending = new Map();
      const increments: MinuteIncrements[] = [...batch.entries()].map(([minute, rows]) => ({ minute, rows: [...rows.values()] }));
      try {
        await this.deps.store.add(increments);
      } catch (err) {
        for (const { minute, rows } of increments) for (const row of rows) this.addPending(minute, dimensionsKey(row.dims), row.dims, row.counts);
        this.deps.onError(err, 'flush online metrics');
      }
    });
    return this.flushing;
  }

  /** The deployment's counts since `sinceMs` (this node's flushed first), with rates and intervals. */
  async report(sinceMs: number) {
    await this.flush();
    return onlineReport(await this.deps.store.read(sinceMs));
  }

  /** Stops the timer and adds what is held to the store. */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  get remembered(): { lists: number; keys: number } {
    return this.lists.size;
  }

  private count(at: number, list: TrackedList, counts: OnlineCounts): void {
    if (counts.lists === 0 && counts.clicks === 0 && counts.addToCarts === 0 && counts.purchases === 0 && counts.revenue === 0) return;
    const counters = this.countersOf(list);
    if (counts.lists !== 0) counters.lists.inc(counts.lists);
    if (counts.impressions !== 0) counters.impressions.inc(counts.impressions);
    if (counts.clicks !== 0) counters.clicks.inc(counts.clicks);
    if (counts.addToCarts !== 0) counters.addToCarts.inc(counts.addToCarts);
    if (counts.purchases !== 0) counters.purchases.inc(counts.purchases);
    // A Prometheus counter never goes down: a refund (negative value) stays in the store's sums only.
    if (counts.revenue > 0) counters.revenue.inc(counts.revenue);
    this.addPending(minuteOf(at), list.dimsKey, list.dims, counts);
  }

  private countersOf(list: TrackedList): PrometheusCounters {
    let counters = this.counters.get(list.dimsKey);
    if (counters === undefined) {
      const { metrics } = this.deps;
      const labels = { model_version: list.dims.modelVersion, recipe: list.dims.recipe, arm: list.dims.arm };
      counters = {
        lists: metrics.onlineLists.labels(labels),
        impressions: metrics.onlineImpressions.labels(labels),
        clicks: metrics.onlineClicks.labels(labels),
        addToCarts: metrics.onlineAddToCarts.labels(labels),
        purchases: metrics.onlinePurchases.labels(labels),
        revenue: metrics.onlineRevenue.labels(labels),
      };
      this.counters.set(list.dimsKey, counters);
    }
    return counters;
  }

  private addPending(minute: number, key: string, dims: ListDimensions, counts: OnlineCounts): void {
    let rows = this.pending.get(minute);
    if (rows === undefined) this.pending.set(minute, (rows = new Map()));
    const row = rows.get(key);
    if (row === undefined) rows.set(key, { dims, counts: { ...counts } });
    else addCounts(row.counts, counts);
  }
}

/** The Prometheus counters of one set of dimensions. */
type PrometheusCounters = Record<'lists' | 'impressions' | 'clicks' | 'addToCarts' | 'purchases' | 'revenue', { inc(value: number): void }>;
