import type { LogEntry } from './events.js';

/**
 * The rolling feature state of one session or user: small, bounded, plain data, so it is cheap
 * to hold live, to snapshot and to replay. Lists of tuples rather than objects keyed by ids, so
 * no client-chosen id can ever land on an object prototype.
 */
export interface SessionState {
  eventCount: number;
  lastEventId: string | null;
  /** Epoch ms of the latest event applied; weights below are as of this instant. */
  lastEventAt: number | null;
  /** Most recent last: [itemId, sentAt]. */
  recent: Array<[string, number]>;
  /** Time-decayed item weights, heaviest first (ties by id). */
  itemWeights: Array<[string, number]>;
  /** Time-decayed category affinities, heaviest first (ties by name). */
  categoryAffinity: Array<[string, number]>;
  /** Events seen per event type, sorted by type. */
  eventCounts: Array<[string, number]>;
  /** Purchased item ids, most recent last. */
  purchased: string[];
}

export interface ReducerConfig {
  /** Weights halve over this much event time. */
  halfLifeMs: number;
  /** Weights are also multiplied by this at every event: recency by position, for data without real time. */
  positionDecay: number;
  recentMax: number;
  itemWeightsMax: number;
  categoriesMax: number;
  purchasedMax: number;
  /** Weight an event adds to its item; types not listed add `defaultEventWeight`. */
  eventWeights: Readonly<Record<string, number>>;
  defaultEventWeight: number;
  purchaseEventType: string;
}

export const defaultReducerConfig: ReducerConfig = {
  halfLifeMs: 30 * 60 * 1000,
  positionDecay: 1,
  recentMax: 20,
  itemWeightsMax: 50,
  categoriesMax: 20,
  purchasedMax: 100,
  eventWeights: { view: 1, click: 1, 'add-to-cart': 3, purchase: 5 },
  defaultEventWeight: 1,
  purchaseEventType: 'purchase',
};

export function initialState(): SessionState {
  return {
    eventCount: 0,
    lastEventId: null,
    lastEventAt: null,
    recent: [],
    itemWeights: [],
    categoryAffinity: [],
    eventCounts: [],
    purchased: [],
  };
}

export function eventWeight(eventType: string, config: ReducerConfig): number {
  return Object.hasOwn(config.eventWeights, eventType) ? config.eventWeights[eventType] : config.defaultEventWeight;
}

/** The state after one more log entry. Pure: time comes from the entry, never from the clock. */
export function reduce(state: SessionState, entry: LogEntry, config: ReducerConfig = defaultReducerConfig): SessionState {
  if (entry.kind === 'merge') {
    return { ...mergeStates(state, entry.state, config), lastEventId: entry.eventId };
  }
  // An event older than the state does not rewind time: it counts as happening now.
  const at = state.lastEventAt === null ? entry.sentAt : Math.max(state.lastEventAt, entry.sentAt);
  const factor = decayFactor(state.lastEventAt, at, config.halfLifeMs) * (state.eventCount === 0 ? 1 : config.positionDecay);
  const weight = eventWeight(entry.eventType, config);

  const itemWeights = addWeight(scale(state.itemWeights, factor), entry.itemId, weight, config.itemWeightsMax);
  const categoryAffinity =
    entry.itemCategory === undefined
      ? scale(state.categoryAffinity, factor)
      : addWeight(scale(state.categoryAffinity, factor), entry.itemCategory, weight, config.categoriesMax);

  const recent = state.recent.filter(([id]) => id !== entry.itemId);
  recent.push([entry.itemId, at]);
  const purchased =
    entry.eventType === config.purchaseEventType
      ? [...state.purchased.filter((id) => id !== entry.itemId), entry.itemId].slice(-config.purchasedMax)
      : state.purchased;

  return {
    eventCount: state.eventCount + 1,
    lastEventId: entry.eventId,
    lastEventAt: at,
    recent: recent.slice(-config.recentMax),
    itemWeights,
    categoryAffinity,
    eventCounts: addCount(state.eventCounts, entry.eventType),
    purchased,
  };
}

/**
 * Identity resolution: the union of two states, both decayed to the later of their clocks.
 * Commutative in everything but `lastEventId`, which the caller sets.
 */
export function mergeStates(a: SessionState, b: SessionState, config: ReducerConfig = defaultReducerConfig): SessionState {
  const at = maxNullable(a.lastEventAt, b.lastEventAt);
  const fa = decayFactor(a.lastEventAt, at, config.halfLifeMs);
  const fb = decayFactor(b.lastEventAt, at, config.halfLifeMs);
  const recent = mergeRecent(a.recent, b.recent).slice(-config.recentMax);
  const purchasedB = new Set(b.purchased);
  return {
    eventCount: a.eventCount + b.eventCount,
    lastEventId: a.lastEventId,
    lastEventAt: at,
    recent,
    itemWeights: sumWeights(scale(a.itemWeights, fa), scale(b.itemWeights, fb), config.itemWeightsMax),
    categoryAffinity: sumWeights(scale(a.categoryAffinity, fa), scale(b.categoryAffinity, fb), config.categoriesMax),
    eventCounts: sumCounts(a.eventCounts, b.eventCounts),
    purchased: [...a.purchased.filter((id) => !purchasedB.has(id)), ...b.purchased].slice(-config.purchasedMax),
  };
}

/** The state's item weights as of `at` (epoch ms), without changing the state. */
export function weightsAt(state: SessionState, at: number, config: ReducerConfig = defaultReducerConfig): Array<[string, number]> {
  return scale(state.itemWeights, decayFactor(state.lastEventAt, at, config.halfLifeMs));
}

function decayFactor(from: number | null, to: number | null, halfLifeMs: number): number {
  if (from === null || to === null || to <= from) return 1;
  return Math.pow(2, -(to - from) / halfLifeMs);
}

function maxNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

function scale(weights: Array<[string, number]>, factor: number): Array<[string, number]> {
  return factor === 1 ? weights : weights.map(([id, w]) => [id, w * factor]);
}

function byWeightThenId(x: [string, number], y: [string, number]): number {
  return y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
}

function addWeight(weights: Array<[string, number]>, id: string, add: number, max: number): Array<[string, number]> {
  const found = weights.find(([k]) => k === id);
  const next: Array<[string, number]> = weights.filter(([k]) => k !== id);
  next.push([id, (found ? found[1] : 0) + add]);
  return next.sort(byWeightThenId).slice(0, max);
}

function sumWeights(a: Array<[string, number]>, b: Array<[string, number]>, max: number): Array<[string, number]> {
  const sums = new Map<string, number>(a);
  for (const [id, w] of b) sums.set(id, (sums.get(id) ?? 0) + w);
  return [...sums].sort(byWeightThenId).slice(0, max);
}

function addCount(counts: Array<[string, number]>, type: string): Array<[string, number]> {
  return sumCounts(counts, [[type, 1]]);
}

function sumCounts(a: Array<[string, number]>, b: Array<[string, number]>): Array<[string, number]> {
  const sums = new Map<string, number>(a);
  for (const [k, n] of b) sums.set(k, (sums.get(k) ?? 0) + n);
  return [...sums].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
}

/** Interleaves two most-recent-last lists by time; an item in both keeps its later visit. */
function mergeRecent(a: Array<[string, number]>, b: Array<[string, number]>): Array<[string, number]> {
  const latest = new Map<string, number>();
  for (const [id, at] of [...a, ...b]) latest.set(id, Math.max(latest.get(id) ?? -Infinity, at));
  return [...latest].sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}
