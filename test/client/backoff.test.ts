import t from 'tap';
import { backoffDelay, DEFAULT_BACKOFF } from '../../clients/js/src/backoff.js';

const options = { baseMs: 100, maxMs: 1000, factor: 2 };

t.test('the ceiling doubles per attempt up to the cap; the wait is in its upper half', async (t) => {
  t.strictSame([0, 1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(attempt, options, 0)), [50, 100, 200, 400, 500, 500, 500], 'no jitter: half the ceiling');
  t.strictSame([0, 1, 2, 3, 4, 5, 10].map((attempt) => backoffDelay(attempt, options, 1)), [100, 200, 400, 800, 1000, 1000, 1000], 'full jitter: the ceiling');
  t.strictSame([0, 3].map((attempt) => backoffDelay(attempt, options, 0.5)), [75, 600], 'a random point between');
});

t.test('huge attempt counts stay at the cap; out-of-range randoms and negative attempts are clamped', async (t) => {
  t.equal(backoffDelay(5000, options, 0.25), 625, 'factor^5000 is Infinity: the cap holds');
  t.equal(backoffDelay(-3, options, 1), 100, 'a negative attempt counts as the first');
  t.equal(backoffDelay(0, options, 7), 100, 'random above 1 is 1');
  t.equal(backoffDelay(0, options, -1), 50, 'random below 0 is 0');
});

t.test('the defaults: half a second first, at most 30 s', async (t) => {
  t.equal(backoffDelay(0, DEFAULT_BACKOFF, 1), 500);
  t.equal(backoffDelay(20, DEFAULT_BACKOFF, 1), 30_000);
  t.equal(backoffDelay(20, DEFAULT_BACKOFF, 0), 15_000);
});
