import type { LogEntry } from './events.js';

/**
 * The rolling feature state of one session or user: small, bounded, plain data, so it is cheap
 * to hold live, to snapshot and to replay. Lists of tuples rather than objects keyed by ids, so
 * no client-chosen id can ever land on an object prototype.
 *
 * Weights decay forward: each event adds its weight scaled by 2^decayShift instead of shrinking
 * every other entry, so an event touches one entry and the rest of the state is shared with the
 * previous one. An entry's weight now is its sum × 2^-decayShift (see `itemWeights`).
 */
export interface SessionState {
  eventCount: number;
  lastEventId: string | null;
  /** Epoch ms of the latest event applied; weights are as of this instant. */
  lastEventAt: number | null;
  /** log2 of how much every weight has decayed since the sums' origin. */
  decayShift: number;
  /** Most recent last: [itemId, event time]. */
  recent: Array<[string, number]>;
  /** Forward-decayed item sums, heaviest first (ties by id). */
  itemSums: Array<[string, number]>;
  /** Forward-decayed category sums, heaviest first (ties by name). */
  categorySums: Array<[string, number]>;
  /** Events seen per event type, sorted by type. */
  eventCounts: Array<[string, number]>;
  /** Purchased item ids, most recent last. */
  purchased: string[];
  /**
   * Items shown to the user (an event's `impression`) and not engaged with since: [itemId, times
   * shown], least recently shown first. An interaction with an item removes it.
   */
  impressions: Array<[string, number]>;
  /** The event types the user had with each item, types sorted: [itemId, types], least recently touched first. */
  itemEventTypes: Array<[string, string[]]>;
}

/**
 * A state as it may have been stored before some fields existed (a snapshot, a merge entry):
 * `upgradeState` makes a current state of it.
 */
export type StoredSessionState = Omit<SessionState, 'impressions' | 'itemEventTypes'> & Partial<Pick<SessionState, 'impressions' | 'itemEventTypes'>>;

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
  /** Items kept in `impressions`; the least recently shown drop first. */
  impressionsMax: number;
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
  impressionsMax: 200,
};

/** Past this shift the sums are rebased, long before 2^shift could overflow a double. */
const MAX_SHIFT = 512;

export function initialState(): SessionState {
  return {
    eventCount: 0,
    lastEventId: null,
    lastEventAt: null,
    decayShift: 0,
    recent: [],
    itemSums: [],
    categorySums: [],
    eventCounts: [],
    purchased: [],
    impressions: [],
    itemEventTypes: [],
  };
}

/** A stored state with the fields it predates empty; a current one comes back equal (a shallow copy). */
export function upgradeState(stored: StoredSessionState): SessionState {
  return { ...stored, impressions: stored.impressions ?? [], itemEventTypes: stored.itemEventTypes ?? [] };
}

/** The event types the state's user had with an item (Personalize's `Interactions.EVENT_TYPE`); empty when none is kept. */
export function eventTypesOf(state: SessionState | null, itemId: string): ReadonlySet<string> {
  const entry = state?.itemEventTypes.find(([id]) => id === itemId);
  return new Set(entry === undefined ? [] : entry[1]);
}

export function eventWeight(eventType: string, config: ReducerConfig): number {
  return Object.hasOwn(config.eventWeights, eventType) ? config.eventWeights[eventType] : config.defaultEventWeight;
}

/** The state after one more log entry. Pure: time comes from the entry, never from the clock. */
export function reduce(state: SessionState, entry: LogEntry, config: ReducerConfig = defaultReducerConfig): SessionState {
  if (entry.kind === 'merge') {
    return { ...mergeStates(state, upgradeState(entry.state), config), lastEventId: entry.eventId };
  }
  // An event older than the state does not rewind time: it counts as happening now.
  const at = state.lastEventAt === null ? entry.sentAt : Math.max(state.lastEventAt, entry.sentAt);
  const elapsed = state.lastEventAt === null ? 0 : (at - state.lastEventAt) / config.halfLifeMs;
  const positions = state.eventCount === 0 ? 0 : -Math.log2(config.positionDecay);
  let shift = state.decayShift + elapsed + positions;
  let itemSums = state.itemSums;
  let categorySums = state.categorySums;
  if (shift > MAX_SHIFT) {
    itemSums = rebase(itemSums, shift);
    categorySums = rebase(categorySums, shift);
    shift = 0;
  }
  const added = eventWeight(entry.eventType, config) * Math.pow(2, shift);

  itemSums = addToSorted(itemSums, entry.itemId, added, config.itemWeightsMax);
  if (entry.itemCategory !== undefined) categorySums = addToSorted(categorySums, entry.itemCategory, added, config.categoriesMax);

  const recent = state.recent.filter(([id]) => id !== entry.itemId);
  recent.push([entry.itemId, at]);
  if (recent.length > config.recentMax) recent.splice(0, recent.length - config.recentMax);

  return {
    eventCount: state.eventCount + 1,
    lastEventId: entry.eventId,
    lastEventAt: at,
    decayShift: shift,
    recent,
    itemSums,
    categorySums,
    eventCounts: addCount(state.eventCounts, entry.eventType),
    purchased:
      entry.eventType === config.purchaseEventType
        ? [...state.purchased.filter((id) => id !== entry.itemId), entry.itemId].slice(-config.purchasedMax)
        : state.purchased,
    impressions: touchImpressions(state.impressions, entry.impression, entry.itemId, config.impressionsMax),
    itemEventTypes: addEventType(state.itemEventTypes, entry.itemId, entry.eventType, config.itemWeightsMax),
  };
}

/** The state's item weights as of its latest event, heaviest first. */
export function itemWeights(state: SessionState): Array<[string, number]> {
  return decayed(state.itemSums, state.decayShift);
}

/** The state's category affinities as of its latest event, heaviest first. */
export function categoryWeights(state: SessionState): Array<[string, number]> {
  return decayed(state.categorySums, state.decayShift);
}

/** The state's item weights as of `at` (epoch ms), without changing the state. */
export function weightsAt(state: SessionState, at: number, config: ReducerConfig = defaultReducerConfig): Array<[string, number]> {
  const later = state.lastEventAt === null || at <= state.lastEventAt ? 0 : (at - state.lastEventAt) / config.halfLifeMs;
  return decayed(state.itemSums, state.decayShift + later);
}

/**
 * Identity resolution: the union of two states, both decayed to the later of their clocks.
 * Commutative in everything but `lastEventId`, which the caller sets, and, between states of the
 * same clock, the order of `impressions` and `itemEventTypes`: in those the state with the later
 * clock (`b` on a tie) counts as the more recent, and its interactions clear the other's
 * impressions of the same items.
 */
export function mergeStates(a: SessionState, b: SessionState, config: ReducerConfig = defaultReducerConfig): SessionState {
  const at = maxNullable(a.lastEventAt, b.lastEventAt);
  const asOf = (s: SessionState) => s.decayShift + (at === null || s.lastEventAt === null ? 0 : (at - s.lastEventAt) / config.halfLifeMs);
  const purchasedB = new Set(b.purchased);
  const [older, newer] = (a.lastEventAt ?? -Infinity) > (b.lastEventAt ?? -Infinity) ? [b, a] : [a, b];
  const engagedLater = new Set(newer.itemEventTypes.map(([id]) => id));
  return {
    eventCount: a.eventCount + b.eventCount,
    lastEventId: a.lastEventId,
    lastEventAt: at,
    decayShift: 0,
    recent: mergeRecent(a.recent, b.recent).slice(-config.recentMax),
    itemSums: sumWeights(decayed(a.itemSums, asOf(a)), decayed(b.itemSums, asOf(b)), config.itemWeightsMax),
    categorySums: sumWeights(decayed(a.categorySums, asOf(a)), decayed(b.categorySums, asOf(b)), config.categoriesMax),
    eventCounts: sumCounts(a.eventCounts, b.eventCounts),
    purchased: [...a.purchased.filter((id) => !purchasedB.has(id)), ...b.purchased].slice(-config.purchasedMax),
    impressions: keepLast(
      mergeTouched(
        older.impressions.filter(([id]) => !engagedLater.has(id)),
        newer.impressions,
        (x, y) => x + y,
      ),
      config.impressionsMax,
    ),
    itemEventTypes: keepLast(mergeTouched(older.itemEventTypes, newer.itemEventTypes, unionSorted), config.itemWeightsMax),
  };
}

function decayed(sums: ReadonlyArray<[string, number]>, shift: number): Array<[string, number]> {
  const factor = Math.pow(2, -shift);
  return sums.map(([id, sum]) => [id, sum * factor]);
}

function rebase(sums: ReadonlyArray<[string, number]>, shift: number): Array<[string, number]> {
  return decayed(sums, shift);
}

function maxNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

function heavierFirst(x: readonly [string, number], y: readonly [string, number]): number {
  return y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
}

/**
 * Adds to one entry of a sorted list and returns a new list in which only that entry is new;
 * the lightest entry drops when the list would exceed `max`.
 */
function addToSorted(sums: ReadonlyArray<[string, number]>, id: string, add: number, max: number): Array<[string, number]> {
  const at = sums.findIndex(([k]) => k === id);
  const entry: [string, number] = [id, (at === -1 ? 0 : sums[at][1]) + add];
  const next = at === -1 ? sums.slice() : [...sums.slice(0, at), ...sums.slice(at + 1)];
  let insertAt = next.findIndex((other) => heavierFirst(entry, other) < 0);
  if (insertAt === -1) insertAt = next.length;
  next.splice(insertAt, 0, entry);
  if (next.length > max) next.length = max;
  return next;
}

function sumWeights(a: Array<[string, number]>, b: Array<[string, number]>, max: number): Array<[string, number]> {
  const sums = new Map<string, number>(a);
  for (const [id, w] of b) sums.set(id, (sums.get(id) ?? 0) + w);
  return [...sums].sort(heavierFirst).slice(0, max);
}

function addCount(counts: ReadonlyArray<[string, number]>, type: string): Array<[string, number]> {
  const at = counts.findIndex(([k]) => k === type);
  if (at !== -1) return counts.map((entry, i): [string, number] => (i === at ? [type, entry[1] + 1] : entry));
  return [...counts, [type, 1] as [string, number]].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
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

/** The last `max` entries of a least-recent-first list. */
function keepLast<T>(list: T[], max: number): T[] {
  return list.length > max ? list.slice(list.length - max) : list;
}

function byString(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * One event's effect on the impressions: every item shown with it (once, however often listed)
 * except the event's own item counts one more showing and becomes the most recent; the event's
 * item, engaged with, leaves. Unchanged impressions are returned as they are.
 */
function touchImpressions(impressions: Array<[string, number]>, shown: readonly string[] | undefined, engaged: string, max: number): Array<[string, number]> {
  const fresh = shown === undefined ? [] : [...new Set(shown)].filter((id) => id !== engaged);
  if (fresh.length === 0) return impressions.some(([id]) => id === engaged) ? impressions.filter(([id]) => id !== engaged) : impressions;
  const counts = new Map(impressions);
  counts.delete(engaged);
  for (const id of fresh) {
    const count = counts.get(id) ?? 0;
    counts.delete(id);
    counts.set(id, count + 1);
  }
  return keepLast([...counts], max);
}

/** The item's entry, with the type added, moves to the end; the least recently touched items drop past `max`. */
function addEventType(entries: Array<[string, string[]]>, itemId: string, type: string, max: number): Array<[string, string[]]> {
  const at = entries.findIndex(([id]) => id === itemId);
  const known = at === -1 ? [] : entries[at][1];
  const types = known.includes(type) ? known : [...known, type].sort(byString);
  if (at === entries.length - 1 && types === known) return entries;
  const next = at === -1 ? entries.slice() : [...entries.slice(0, at), ...entries.slice(at + 1)];
  next.push([itemId, types]);
  return keepLast(next, max);
}

function unionSorted(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort(byString);
}

/**
 * Two least-recent-first lists as one: `older`'s entries first, then `newer`'s; an id in both
 * takes `newer`'s place with the values combined.
 */
function mergeTouched<V>(older: ReadonlyArray<[string, V]>, newer: ReadonlyArray<[string, V]>, combine: (older: V, newer: V) => V): Array<[string, V]> {
  const merged = new Map<string, V>(older);
  for (const [id, value] of newer) {
    const before = merged.get(id);
    merged.delete(id);
    merged.set(id, before === undefined ? value : combine(before, value));
  }
  return [...merged];
}
