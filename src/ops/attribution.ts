import { LRUCache } from 'lru-cache';
import { dimensionsKey, zeroCounts, type ListDimensions, type OnlineCounts } from '../store/online-metrics.js';

/**
 * Which served list an event is credited to. An event naming a `recommendationId` is the named
 * list's, if this node served it within the window; otherwise it is the list last shown to the
 * event's session (or its user), if within the window. Either way the event's item must be in
 * the list: a list earns credit only for what it showed.
 */

/** The arm of every list until experiments split traffic: the live model's. */
export const LIVE_ARM = 'live';

/**
 * What a list was: `push` (a socket's list, pushed on a change or sent on connect),
 * `recommendations` (a visitor's list over HTTP, native or Personalize), `related` (items like
 * one item), `ranking` (the caller's items, re-ranked).
 */
export type Recipe = 'push' | 'recommendations' | 'related' | 'ranking';

/** A list as it left this node. */
export interface ServedList {
  recommendationId: string;
  /** Whom it was shown to: `viewersOf` its session and user; none for a visitor the request did not name. */
  viewers: readonly string[];
  items: readonly string[];
  /** Epoch ms when it was served. */
  at: number;
  dims: ListDimensions;
}

/** What an event can earn a list, by the event's type (see `engagementOf`). */
export type Engagement = 'click' | 'addToCart' | 'purchase';

export interface EngagementEvent {
  /** The log's id of the event: a resend of it carries the same one. */
  eventId: string;
  /** `viewersOf` the event's session and user. */
  viewers: readonly string[];
  itemId: string;
  engagement: Engagement;
  recommendationId?: string;
  /** Epoch ms when the node received it. */
  at: number;
}

export type UnattributedReason =
  /** It names a list this node does not know (never served here, or forgotten). */
  | 'unknown-id'
  /** No list was shown to its session or user. */
  | 'no-list'
  /** The list is older than the window. */
  | 'outside-window'
  /** The list did not show its item. */
  | 'not-in-list';

export type Attribution = { list: TrackedList; via: 'recommendation-id' | 'last-list' } | { list: null; reason: UnattributedReason };

/** A served list with what it has earned so far, which `credit` updates. */
export interface TrackedList extends Omit<ServedList, 'viewers'> {
  /** Per item, the engagements already counted (bits of ENGAGEMENT_BITS); created on the first credit. */
  engaged: Map<string, number> | null;
  /** The purchases whose value it was credited, so that a resend of one (the same log id) adds nothing. */
  paid: Set<string> | null;
  /** `dimensionsKey(dims)`, made once. */
  dimsKey: string;
  /** Revenue credited to the list so far. */
  revenue: number;
}

/** Where served lists are looked up: by id, and the latest shown to any of some viewers before a time. */
export interface ListLookup {
  byId(recommendationId: string): TrackedList | undefined;
  lastOf(viewers: readonly string[], before: number): TrackedList | undefined;
}

/** Who sees a list or sends an event: the session, and the (pseudonymized) user when known. */
export function viewersOf(sessionId: string | undefined | null, userId: string | undefined | null): string[] {
  const viewers: string[] = [];
  if (sessionId !== undefined && sessionId !== null) viewers.push(`s:${sessionId}`);
  if (userId !== undefined && userId !== null) viewers.push(`u:${userId}`);
  return viewers;
}

/** The event types that count, and as what: a view of a listed item counts as its click-through. */
export function engagementOf(eventType: string, purchaseEventType: string): Engagement | null {
  if (eventType === purchaseEventType) return 'purchase';
  if (eventType === 'click' || eventType === 'view') return 'click';
  if (eventType === 'add-to-cart') return 'addToCart';
  return null;
}

export function attribute(event: EngagementEvent, lists: ListLookup, windowMs: number): Attribution {
  const named = event.recommendationId;
  // Shown strictly before the event was received: a list pushed because of this very event (within
  // the same millisecond) is not the one it responded to. A named list was shown, or it could not be named.
  const list = named === undefined ? lists.lastOf(event.viewers, event.at) : lists.byId(named);
  if (list === undefined) return { list: null, reason: named === undefined ? 'no-list' : 'unknown-id' };
  if (event.at - list.at > windowMs) return { list: null, reason: 'outside-window' };
  if (!list.items.includes(event.itemId)) return { list: null, reason: 'not-in-list' };
  return { list, via: named === undefined ? 'last-list' : 'recommendation-id' };
}

/** Lists kept per viewer: the latest, and a few before it in case the latest came after the event. */
const RECENT_PER_VIEWER = 4;

const ENGAGEMENT_BITS: Readonly<Record<Engagement, number>> = { click: 1, addToCart: 2, purchase: 4 };

/**
 * What crediting the event to the list adds to the counts. An item counts once per list and
 * engagement (a second click on it is no second click-through), so the rates are shares of the
 * items shown; every purchase adds its value to the revenue, once per event (a resend carries the
 * same log id). Updates the list's bookkeeping.
 */
export function credit(list: TrackedList, event: Pick<EngagementEvent, 'eventId' | 'itemId' | 'engagement'>, value: number): OnlineCounts {
  const { itemId, engagement } = event;
  const counts = zeroCounts();
  list.engaged ??= new Map();
  const before = list.engaged.get(itemId) ?? 0;
  const bit = ENGAGEMENT_BITS[engagement];
  if ((before & bit) === 0) {
    list.engaged.set(itemId, before | bit);
    counts[engagement === 'click' ? 'clicks' : engagement === 'addToCart' ? 'addToCarts' : 'purchases'] = 1;
  }
  if (engagement === 'purchase' && value !== 0) {
    list.paid ??= new Set();
    if (list.paid.has(event.eventId)) return counts;
    list.paid.add(event.eventId);
    const revenue = list.revenue + value;
    counts.revenue = value;
    // Keeps the sum over lists of each list's revenue squared exact as one list's revenue grows.
    counts.revenueSquares = revenue * revenue - list.revenue * list.revenue;
    list.revenue = revenue;
  }
  return counts;
}

/** What serving a list adds to the counts. */
export function served(list: Pick<ServedList, 'items'>): OnlineCounts {
  return { ...zeroCounts(), lists: 1, impressions: list.items.length };
}

/**
 * The lists this node served lately, bounded: at most `maxLists` by id and one (the latest) per
 * viewer for at most `maxKeys` viewers, the least recently used forgotten first. Lists older than
 * the window are never credited (see `attribute`) and age out as new ones come.
 */
export class ServedLists implements ListLookup {
  private readonly ids: LRUCache<string, TrackedList>;
  /** Per viewer, the latest few lists, oldest first. */
  private readonly latest: LRUCache<string, TrackedList[]>;
  /** One dimensions object and key per distinct dimensions, shared by their lists. */
  private readonly dimensions = new Map<string, { dims: ListDimensions; dimsKey: string }>();

  constructor(limits: { maxLists: number; maxKeys: number }) {
    this.ids = new LRUCache({ max: limits.maxLists });
    this.latest = new LRUCache({ max: limits.maxKeys });
  }

  /**
   * Remembers a list; null when it is known already (one push reaching two sockets of a
   * session): it is counted once, and is the latest of its viewers now.
   */
  add(list: ServedList): TrackedList | null {
    const known = this.ids.get(list.recommendationId);
    const tracked: TrackedList = known ?? { recommendationId: list.recommendationId, items: list.items, at: list.at, ...this.shared(list.dims), engaged: null, paid: null, revenue: 0 };
    if (known === undefined) this.ids.set(list.recommendationId, tracked);
    for (const viewer of list.viewers) {
      const recent = this.latest.get(viewer);
      if (recent === undefined) {
        this.latest.set(viewer, [tracked]);
        continue;
      }
      const at = recent.indexOf(tracked);
      if (at >= 0) recent.splice(at, 1);
      recent.push(tracked);
      if (recent.length > RECENT_PER_VIEWER) recent.shift();
    }
    return known === undefined ? tracked : null;
  }

  byId(recommendationId: string): TrackedList | undefined {
    return this.ids.get(recommendationId);
  }

  private shared(dims: ListDimensions): { dims: ListDimensions; dimsKey: string } {
    const dimsKey = dimensionsKey(dims);
    let entry = this.dimensions.get(dimsKey);
    if (entry === undefined) this.dimensions.set(dimsKey, (entry = { dims, dimsKey }));
    return entry;
  }

  /** The latest list shown to any of the viewers before `before` (epoch ms). */
  lastOf(viewers: readonly string[], before: number): TrackedList | undefined {
    let latest: TrackedList | undefined;
    for (const viewer of viewers) {
      for (const list of this.latest.get(viewer) ?? []) {
        if (list.at < before && (latest === undefined || list.at >= latest.at)) latest = list;
      }
    }
    return latest;
  }

  get size(): { lists: number; keys: number } {
    return { lists: this.ids.size, keys: this.latest.size };
  }
}
