import type { StorageLike } from './types.js';

/** An event as queued and as sent: the same object (and so the same eventId) on every resend. */
export interface QueuedEvent {
  /** The client event id, generated once by track(). */
  eventId: string;
  eventType: string;
  itemId: string;
  /** Epoch ms at track(): the server counts a resent event at the time it happened, not when it arrived. */
  sentAt: number;
  eventValue?: number;
  properties?: Record<string, unknown>;
  impression?: string[];
  recommendationId?: string;
}

export interface EventQueueOptions {
  /** The most events held; at capacity, push() drops the oldest. */
  capacity: number;
  /** Where the queue survives a reload; null keeps it in memory only. */
  storage: StorageLike | null;
  /** The storage key. Tabs sharing a storage must use different keys (each tab rewrites its key whole). */
  key: string;
}

const FORMAT_VERSION = 1;

/**
 * The events not yet acknowledged, oldest first, bounded, mirrored to storage after every change.
 * When full, a new event drops the oldest: for recommendations the latest behaviour matters most,
 * and an old event that could not be delivered for that long is the one worth least.
 */
export class EventQueue {
  private events: QueuedEvent[];

  constructor(private readonly options: EventQueueOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('the queue capacity must be a whole number of at least 1');
    this.events = load(options).slice(-options.capacity);
  }

  get size(): number {
    return this.events.length;
  }

  /** The oldest event: the next to send. */
  peek(): QueuedEvent | undefined {
    return this.events[0];
  }

  all(): readonly QueuedEvent[] {
    return this.events;
  }

  /** Appends `event`; returns the events dropped to keep within capacity (oldest first). */
  push(event: QueuedEvent): QueuedEvent[] {
    this.events.push(event);
    const dropped = this.events.length > this.options.capacity ? this.events.splice(0, this.events.length - this.options.capacity) : [];
    this.save();
    return dropped;
  }

  /** Removes the event with this id (acknowledged or refused); false when it is not queued. */
  remove(eventId: string): boolean {
    const index = this.events.findIndex((e) => e.eventId === eventId);
    if (index < 0) return false;
    this.events.splice(index, 1);
    this.save();
    return true;
  }

  private save(): void {
    const { storage, key } = this.options;
    if (storage === null) return;
    try {
      if (this.events.length === 0) storage.removeItem(key);
      else storage.setItem(key, JSON.stringify({ v: FORMAT_VERSION, events: this.events }));
    } catch {
      // Quota exceeded or storage disabled (private browsing): the queue still works in memory.
    }
  }
}

/** What storage holds under the key, keeping only well-formed events (storage is anyone's to edit). */
function load({ storage, key }: EventQueueOptions): QueuedEvent[] {
  if (storage === null) return [];
  let parsed: unknown;
  try {
    const text = storage.getItem(key);
    if (text === null) return [];
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { v?: unknown }).v !== FORMAT_VERSION) return [];
  const events = (parsed as { events?: unknown }).events;
  return Array.isArray(events) ? events.filter(isQueuedEvent) : [];
}

function isQueuedEvent(value: unknown): value is QueuedEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.eventId === 'string' &&
    typeof e.eventType === 'string' &&
    typeof e.itemId === 'string' &&
    typeof e.sentAt === 'number' &&
    (e.eventValue === undefined || typeof e.eventValue === 'number') &&
    (e.properties === undefined || (typeof e.properties === 'object' && e.properties !== null && !Array.isArray(e.properties))) &&
    (e.impression === undefined || (Array.isArray(e.impression) && e.impression.every((id) => typeof id === 'string'))) &&
    (e.recommendationId === undefined || typeof e.recommendationId === 'string')
  );
}
