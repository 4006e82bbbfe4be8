/** How long to wait before the next reconnect or resend: exponential, capped, with jitter. */
export interface BackoffOptions {
  /** The first wait's ceiling, in ms. */
  baseMs: number;
  /** No wait is longer than this, in ms. */
  maxMs: number;
  /** Each failed attempt multiplies the ceiling by this. */
  factor: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = { baseMs: 500, maxMs: 30_000, factor: 2 };

/**
 * The wait before retry number `attempt` (0 for the first retry): a ceiling of
 * `min(maxMs, baseMs * factor^attempt)`, then "equal jitter", a random point in the upper half of
 * the ceiling. The jitter spreads the reconnects of many clients after a server restart; keeping
 * the lower half means no retry comes at once. `random` is a number in [0, 1) (Math.random()),
 * passed in so that the function is pure.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: number): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * options.factor ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (ceiling / 2) * Math.min(Math.max(random, 0), 1));
}
