import type { Test } from 'tap';
import { ActorHost } from '../../src/actors/actor-host.js';
import { ListCache } from '../../src/cache/list-cache.js';
import { MemorySharedLayer } from '../../src/cache/shared-layer.js';
import { mergeConfig } from '../../src/config.js';
import { CatalogIndex } from '../../src/model/catalog.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { ConsentGate } from '../../src/privacy/consent-gate.js';
import { RateLimiter } from '../../src/security/token-bucket.js';
import { createServing } from '../../src/serving/index.js';
import { createMemoryStores } from '../../src/store/memory.js';
import type { CatalogItem } from '../../src/store/types.js';
import { stubScorer } from '../support/stub-scorer.js';

/** What the stub model lists for any history, and what it lists as popular. */
export const MODEL: Array<[string, number]> = [['m1', 0.9], ['m2', 0.8], ['m3', 0.7], ['m4', 0.6]];
export const POPULAR: Array<[string, number]> = [['p1', 9], ['p2', 8], ['p3', 7], ['p4', 6]];

const item = (itemId: string): CatalogItem => ({ itemId, title: itemId, category: itemId.startsWith('m') ? 'model' : 'popular', price: 1, inStock: true });

/** Every item of the stub model and of its popular list, in stock. */
export function stubCatalog(): CatalogIndex {
  return new CatalogIndex([...MODEL, ...POPULAR].map(([itemId]) => item(itemId)));
}

/** The stub model's scorer, which knows its own items. */
export function servedScorer() {
  return { ...stubScorer(MODEL, POPULAR), hasItem: (itemId: string) => MODEL.some(([id]) => id === itemId) };
}

/**
 * The serving layer over memory stores, a stub model and an actor host, with a session burst of
 * `burst` tokens refilled at one a second on a clock that stands still (the test moves `clock.now`).
 */
export function servingFixture(t: Test, options: { cache?: boolean; burst?: number } = {}) {
  const config = mergeConfig({ cache: { enabled: options.cache ?? true } });
  const stores = createMemoryStores();
  const catalog = stubCatalog();
  const scorer = servedScorer();
  const metrics = createMetrics();
  // One value: the host takes a different one for a hot swap.
  const model = { scorer, reducer: config.reducer };
  const host = new ActorHost({ config, stores, catalog, model: () => model, metrics, onError: (err) => t.error(err) });
  const consent = new ConsentGate(stores.consent);
  const clock = { now: 1_000_000 };
  const sessionLimiter = new RateLimiter({ perSecond: 1, burst: options.burst ?? 100, now: () => clock.now });
  const onCacheError = (): void => {};
  const lists = config.cache.enabled
    ? {
        recommendations: new ListCache('recommendations', new MemorySharedLayer(), config.cache, metrics, catalog, onCacheError),
        related: new ListCache('related', new MemorySharedLayer(), config.cache, metrics, catalog, onCacheError),
      }
    : null;
  t.teardown(async () => {
    await host.stop();
    for (const cache of Object.values(lists ?? {})) await cache.close();
  });
  const serving = createServing({ host, consent, catalog, modelFor: () => ({ scorer, arm: 'live' }), lists, sessionLimiter, metrics });
  /** Opts the user out, as the privacy route does (the store, then the node's consent cache). */
  const optOut = async (userId: string): Promise<void> => {
    await stores.consent.setOptedOut(userId, true);
    consent.update(userId, true);
  };
  return { ...serving, host, stores, catalog, metrics, clock, optOut };
}

/** The ids of a list. */
export const ids = (list: { items: Array<{ itemId: string }> }): string[] => list.items.map((i) => i.itemId);

/** The value of a counter for these labels (0 when never counted). */
export async function counted(metric: { get(): Promise<{ values: Array<{ labels: Record<string, string | number>; value: number }> }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))?.value ?? 0;
}
