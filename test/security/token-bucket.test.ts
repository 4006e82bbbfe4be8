import t from 'tap';
import { RateLimiter, TokenBucket } from '../../src/security/token-bucket.js';

const ALLOWED = { allowed: true, retryAfterMs: 0 };
const denied = (retryAfterMs: number): { allowed: false; retryAfterMs: number } => ({ allowed: false, retryAfterMs });

t.test('a bucket starts full, drains by the burst and refills at the rate, capped at the burst', async (t) => {
  const bucket = new TokenBucket(3, 2, 0);
  t.strictSame([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)], [ALLOWED, ALLOWED, ALLOWED, denied(500)]);
  t.strictSame(bucket.take(250), denied(250));
  t.strictSame(bucket.take(499), denied(1));
  t.strictSame(bucket.take(500), ALLOWED);
  t.strictSame(bucket.take(500), denied(500));
  t.strictSame(bucket.take(1500), ALLOWED, 'two tokens came back in a second');
  t.strictSame(bucket.take(1500), ALLOWED);
  t.strictSame(bucket.take(1500), denied(500));
  t.equal(bucket.available(100_000), 3, 'an idle bucket holds the burst, no more');
  t.strictSame([bucket.take(100_000), bucket.take(100_000), bucket.take(100_000), bucket.take(100_000)], [ALLOWED, ALLOWED, ALLOWED, denied(500)]);
});

t.test('costs above one, and a rate that does not divide a second', async (t) => {
  const bucket = new TokenBucket(5, 1, 0);
  t.strictSame(bucket.take(0, 2), ALLOWED);
  t.strictSame(bucket.take(0, 3), ALLOWED);
  t.strictSame(bucket.take(0, 1), denied(1000));
  t.strictSame(bucket.take(100, 2), denied(1900));
  t.strictSame(bucket.take(2000, 2), ALLOWED);
  t.strictSame(bucket.take(2000, 1), denied(1000));

  const thirds = new TokenBucket(1, 3, 0);
  t.strictSame(thirds.take(0), ALLOWED);
  t.strictSame(thirds.take(0), denied(334));
  t.strictSame(thirds.take(333), denied(1));
  t.strictSame(thirds.take(334), ALLOWED);
  t.strictSame(thirds.take(334), denied(334));
  // A take every ms for 1000 s at 3 per second (room for the leftover thirds): exactly 3000 allowed, no drift.
  const steady = new TokenBucket(2, 3, 0);
  steady.take(0, 2);
  let allowed = 0;
  for (let ms = 1; ms <= 1_000_000; ms++) if (steady.take(ms).allowed) allowed++;
  t.equal(allowed, 3000);
});

t.test('a clock that steps back gives nothing and takes nothing', async (t) => {
  const bucket = new TokenBucket(2, 1, 10_000);
  t.strictSame([bucket.take(10_000), bucket.take(10_000)], [ALLOWED, ALLOWED]);
  t.strictSame(bucket.take(5_000), denied(1000));
  t.strictSame(bucket.take(10_999), denied(1));
  t.strictSame(bucket.take(11_000), ALLOWED);
});

t.test('refuses settings and costs that make no sense', async (t) => {
  t.throws(() => new TokenBucket(0, 1, 0), RangeError);
  t.throws(() => new TokenBucket(1, 0, 0), RangeError);
  t.throws(() => new TokenBucket(1, Number.NaN, 0), RangeError);
  const bucket = new TokenBucket(2, 1, 0);
  t.throws(() => bucket.take(0, 0), RangeError);
  t.throws(() => bucket.take(0, -1), RangeError);
  t.throws(() => bucket.take(0, 3), /exceeds the bucket's capacity/);
  t.throws(() => new RateLimiter({ perSecond: 0, burst: 1 }), RangeError);
  t.throws(() => new RateLimiter({ perSecond: 1, burst: 0 }), RangeError);
});

t.test('RateLimiter: one bucket per key; an evicted or forgotten key starts full', async (t) => {
  const clock = { now: 0 };
  const limiter = new RateLimiter({ perSecond: 1, burst: 2, now: () => clock.now, maxKeys: 2 });
  t.strictSame([limiter.take('a'), limiter.take('a'), limiter.take('a')], [ALLOWED, ALLOWED, denied(1000)]);
  t.strictSame(limiter.take('b'), ALLOWED, 'another key has its own bucket');
  clock.now = 400;
  t.strictSame(limiter.take('a'), denied(600));
  t.strictSame(limiter.take('b', 2), denied(600));
  t.equal(limiter.size, 2);

  limiter.take('c');
  limiter.take('b');
  t.equal(limiter.size, 2, 'bounded');
  t.strictSame([limiter.take('a'), limiter.take('a')], [ALLOWED, ALLOWED], 'a, least recently used, was evicted and starts full');

  limiter.take('c');
  limiter.take('c');
  t.strictSame(limiter.take('c'), denied(1000));
  limiter.forget('c');
  t.strictSame(limiter.take('c'), ALLOWED);
});
