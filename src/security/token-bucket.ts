import { LRUCache } from 'lru-cache';

export interface TakeResult {
  allowed: boolean;
  /** 0 when allowed; else the ms until `cost` tokens will be there (for Retry-After). */
  retryAfterMs: number;
}

/**
 * A token bucket: holds at most `capacity` tokens (the burst), gains `perSecond` per second, and
 * a request takes `cost` of them or is refused. Starts full.
 *
 * Tokens are counted in thousandths (one token is 1000 units, refilled at `perSecond` units per
 * ms), so that with whole-ms clocks and whole rates every step is integer arithmetic: the
 * sequence of answers and each retryAfterMs are exact, not subject to rounding drift.
 */
export class TokenBucket {
  private readonly capacityUnits: number;
  private units: number;
  private lastRefill: number;

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    /** The clock reading (ms) at which the bucket is full. */
    now: number,
  ) {
    assertBucketSettings(capacity, perSecond);
    this.capacityUnits = capacity * 1000;
    this.units = this.capacityUnits;
    this.lastRefill = now;
  }

  /** Tokens held at `now` (fractional while refilling). */
  available(now: number): number {
    this.refill(now);
    return this.units / 1000;
  }

  /** Throws a RangeError for a cost that is not positive or exceeds the capacity (never allowable). */
  take(now: number, cost = 1): TakeResult {
    if (!Number.isFinite(cost) || cost <= 0) throw new RangeError(`a token bucket take must cost a positive number, got ${cost}`);
    if (cost > this.capacity) throw new RangeError(`a cost of ${cost} exceeds the bucket's capacity of ${this.capacity} and could never be allowed`);
    this.refill(now);
    const costUnits = cost * 1000;
    if (this.units >= costUnits) {
      this.units -= costUnits;
      return { allowed: true, retryAfterMs: 0 };
    }
    return { allowed: false, retryAfterMs: Math.ceil((costUnits - this.units) / this.perSecond) };
  }

  private refill(now: number): void {
    // A clock that steps back gives nothing and does not move the reference back (no double refill later).
    if (now <= this.lastRefill) return;
    this.units = Math.min(this.capacityUnits, this.units + (now - this.lastRefill) * this.perSecond);
    this.lastRefill = now;
  }
}

function assertBucketSettings(capacity: number, perSecond: number): void {
  if (!Number.isFinite(capacity) || capacity < 1) throw new RangeError(`a token bucket's capacity (burst) must be at least 1, got ${capacity}`);
  if (!Number.isFinite(perSecond) || perSecond <= 0) throw new RangeError(`a token bucket's rate must be a positive number per second, got ${perSecond}`);
}

export interface RateLimiterOptions {
  perSecond: number;
  burst: number;
  /** ms. Default Date.now. */
  now?: () => number;
  /** Most keys with a bucket; the least recently used is dropped beyond it. Default 100_000. */
  maxKeys?: number;
}

/**
 * One token bucket per key (an API key id, a session id), in this node's memory. Buckets live in
 * an LRU of bounded size, so that many distinct keys cannot grow memory without bound; an
 * evicted key starts full again, which errs on the side of allowing, and only for keys idle long
 * enough to be the least recently used of `maxKeys`.
 */
export class RateLimiter {
  private readonly buckets: LRUCache<string, TokenBucket>;
  private readonly perSecond: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(options: RateLimiterOptions) {
    // Checked here rather than on the first take, so that a bad configuration fails at start.
    assertBucketSettings(options.burst, options.perSecond);
    this.perSecond = options.perSecond;
    this.burst = options.burst;
    this.now = options.now ?? Date.now;
    this.buckets = new LRUCache({ max: options.maxKeys ?? 100_000 });
  }

  take(key: string, cost = 1): TakeResult {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.burst, this.perSecond, now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(now, cost);
  }

  /** Drops the key's bucket (e.g. its API key was revoked, its session deleted). */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Keys holding a bucket now. */
  get size(): number {
    return this.buckets.size;
  }
}
