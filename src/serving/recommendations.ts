import type { ActorHost } from '../actors/actor-host.js';
import type { ListCache, ServedList } from '../cache/list-cache.js';
import { AttuneError } from '../errors.js';
import type { Arm } from '../lib/experiment.js';
import type { CatalogIndex } from '../model/catalog.js';
import { defaultFilter, type FilterOptions } from '../model/filters.js';
import { rankItems, recommendForState, relatedItems, type ListOptions, type ListScorer, type RecommendationList } from '../model/recommend.js';
import type { Recipe } from '../ops/attribution.js';
import type { ListShown } from '../ops/online-metrics.js';
import type { ConsentGate } from '../privacy/consent-gate.js';
import { sessionKey } from '../session/events.js';
import type { SessionState } from '../session/state.js';
import { StoreUnavailableError } from '../store/types.js';
import { isAnonymous, keyFor, type Visitor } from './visitor.js';

export type { ServedList } from '../cache/list-cache.js';

/** A list's options built from the state it is for (a Personalize filter on the user's own events). */
export type OptionsForState = (state: SessionState | null) => Promise<ListOptions>;

/**
 * Whether a list may come from the list cache. 'shared' (the native API): when the node caches,
 * lists of keys with no live actor here, and anonymous related lists, are served from it.
 * 'none' (the Personalize API, whose filters differ per request): always computed, and then
 * the options may depend on the state.
 */
export type CachePolicy = { cache: 'shared'; options: ListOptions } | { cache: 'none'; options: ListOptions | OptionsForState };

/** A visitor's list: `n` items for them. */
export type ListRequest = { who: Visitor; n: number } & CachePolicy;

/** Items like `itemId`, filtered and demoted for the visitor when there is one. */
export type RelatedRequest = { itemId: string; who: Visitor; n: number } & CachePolicy;

/** The caller's own items, ordered by the visitor's scores; never cached. */
export interface RankRequest {
  who: Visitor;
  inputList: readonly string[];
  /** The input list's length by default. */
  n?: number;
  /** The filter defaults to RANKING_FILTER. */
  options: ListOptions | OptionsForState;
}

/** A caller ranking its own list chose it: nothing is dropped unless the request asks. */
export const RANKING_FILTER: FilterOptions = { ...defaultFilter, excludeOutOfStock: false, excludePurchased: false };

/** A related list asked for an item neither the catalog nor the model knows. */
export class UnknownItemError extends AttuneError {
  constructor(readonly itemId: string) {
    super('NOT_FOUND', `item ${itemId} is neither in the catalog nor in the model`);
  }
}

/** The scorer serving a key and its experiment arm. */
export interface ArmScorer {
  scorer: ListScorer & { hasItem(itemId: string): boolean };
  arm: Arm;
}

/** A list and the experiment arm whose model built it. */
export type ArmedServedList = ServedList & { arm: Arm };

export interface RecommendationsDeps {
  host: Pick<ActorHost, 'resolveKey' | 'isLive' | 'currentState'>;
  consent: ConsentGate;
  catalog: CatalogIndex;
  /**
   * The scorer serving a key now (its experiment arm's; null: a list for no one); read per list,
   * so a hot swap or the end of an experiment takes effect at the next one.
   */
  modelFor: (key: string | null) => ArmScorer;
  /** Cached lists for keys with no live actor here and for anonymous related items; null when caching is off. */
  lists: { recommendations: ListCache; related: ListCache } | null;
  /** Hears every list returned to a visitor who tracks (online metrics); not those of opted-out users. */
  onShown?: (shown: ListShown) => void;
}

/**
 * Where lists are looked up, whatever the API: the visitor's key (a session follows its user),
 * their consent (an opted-out user gets what an anonymous visitor with no history gets), the
 * state of a live actor or the stored one, and the list cache for keys not live here.
 */
export class Recommendations {
  constructor(private readonly deps: RecommendationsDeps) {}

  /** The actor key a visitor names (null for neither a session nor a user). */
  keyOf(who: Visitor): Promise<string | null> {
    return keyFor(who, (sessionId) => this.deps.host.resolveKey({ sessionId }));
  }

  /** The state lists are built for: none for no visitor, an opted-out user, or a key with no history. */
  async stateFor(who: Visitor): Promise<SessionState | null> {
    return (await this.visitorState(who)).state;
  }

  /** Lists related to an item need the item in the catalog or in the model (the live one unless given). */
  knowsItem(itemId: string, scorer: ArmScorer['scorer'] = this.deps.modelFor(null).scorer): boolean {
    return this.deps.catalog.get(itemId) !== undefined || scorer.hasItem(itemId);
  }

  async list(request: ListRequest): Promise<ArmedServedList> {
    const served = await this.computeList(request);
    await this.shown(request.who, 'recommendations', served.list);
    return served;
  }

  async related(request: RelatedRequest): Promise<ArmedServedList> {
    const served = await this.computeRelated(request);
    await this.shown(request.who, 'related', served.list);
    return served;
  }

  async rank(request: RankRequest): Promise<RecommendationList & { arm: Arm }> {
    const list = await this.computeRanking(request);
    await this.shown(request.who, 'ranking', list);
    return list;
  }

  private async computeList(request: ListRequest): Promise<ArmedServedList> {
    const { who, n } = request;
    const cache = this.deps.lists?.recommendations ?? null;
    if (request.cache === 'none' || cache === null) {
      if (isAnonymous(who)) throw missingIdentity();
      const { key, state } = await this.visitorState(who);
      const { scorer, arm } = this.deps.modelFor(key);
      return { list: await recommendForState(scorer, this.deps.catalog, state, n, await optionsOf(request.options, state)), cache: 'bypass', arm };
    }
    const { options } = request;
    const key = await this.cachedListKeyOf(who);
    if (key === null) throw missingIdentity();
    if (await this.optedOut(who)) {
      const { scorer, arm } = this.deps.modelFor(null);
      return { list: await popular(scorer, this.deps.catalog, n, options), cache: 'bypass', arm };
    }
    const model = this.deps.modelFor(key);
    // A live actor here is always current; only lists of keys without one are cached.
    if (this.deps.host.isLive(key)) return { list: await this.listOfKey(model.scorer, key, n, options), cache: 'bypass', arm: model.arm };
    return this.cached(cache, model, key, n, options, (candidates) => this.listOfKey(model.scorer, key, candidates, options));
  }

  private async computeRelated(request: RelatedRequest): Promise<ArmedServedList> {
    const { itemId, who, n } = request;
    const cache = this.deps.lists?.related ?? null;
    // Personalized related lists depend on the visitor's state: only the anonymous ones are shared.
    if (request.cache === 'shared' && cache !== null && isAnonymous(who)) {
      const model = this.deps.modelFor(null);
      if (!this.knowsItem(itemId, model.scorer)) throw new UnknownItemError(itemId);
      const { options } = request;
      return this.cached(cache, model, itemId, n, options, (candidates) => relatedItems(model.scorer, this.deps.catalog, itemId, null, candidates, options));
    }
    const { key, state } = await this.visitorState(who);
    const { scorer, arm } = this.deps.modelFor(key);
    // Options built from the state (a Personalize filter) are checked before the item.
    const options = await optionsOf(request.options, state);
    if (!this.knowsItem(itemId, scorer)) throw new UnknownItemError(itemId);
    return { list: await relatedItems(scorer, this.deps.catalog, itemId, state, n, options), cache: 'bypass', arm };
  }

  private async computeRanking(request: RankRequest): Promise<RecommendationList & { arm: Arm }> {
    const { key, state } = await this.visitorState(request.who);
    const { scorer, arm } = this.deps.modelFor(key);
    const options = await optionsOf(request.options, state);
    const { inputList } = request;
    return { ...(await rankItems(scorer, this.deps.catalog, state, inputList, request.n ?? inputList.length, options.filter ?? RANKING_FILTER, options.allow)), arm };
  }

  /**
   * The key whose model serves the visitor's lists and the state they are built for: neither for
   * no visitor or an opted-out user (whose lists are anyone's); no state for a key with no history.
   */
  private async visitorState(who: Visitor): Promise<{ key: string | null; state: SessionState | null }> {
    if (await this.optedOut(who)) return { key: null, state: null };
    const key = await this.keyOf(who);
    return { key, state: key === null ? null : await this.stateOfKey(key) };
  }

  /**
   * A list of `subject` (an actor key, or an item for anonymous related lists) from the cache:
   * one per model version, length and options; popular items when it has none and cannot compute.
   */
  private async cached(cache: ListCache, model: ArmScorer, subject: string, n: number, options: ListOptions, compute: (candidates: number) => Promise<RecommendationList>): Promise<ArmedServedList> {
    const served = await cache.list({
      key: `${subject}|${model.scorer.version}|${n}|${JSON.stringify(options)}`,
      n,
      excludeOutOfStock: options.filter?.excludeOutOfStock ?? true,
      compute,
      fallback: (count) => popular(model.scorer, this.deps.catalog, count, options),
    });
    return { ...served, arm: model.arm };
  }

  /** The key of a list that may come from the cache: with the stores down, a session's own cached list (or the fallback) beats an error. */
  private async cachedListKeyOf(who: Visitor): Promise<string | null> {
    try {
      return await this.keyOf(who);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || who.sessionId === undefined) throw err;
      return sessionKey(who.sessionId);
    }
  }

  /** Tells `onShown` of a list being returned, unless its user opted out. Never fails the request. */
  private async shown(who: Visitor, recipe: Recipe, list: RecommendationList): Promise<void> {
    const listener = this.deps.onShown;
    if (listener === undefined) return;
    try {
      // A cached answer, asked for this request already.
      if (await this.optedOut(who)) return;
    } catch {
      // Whether the user tracks is unknown (the stores are down): the list is not counted.
      return;
    }
    listener({ sessionId: who.sessionId ?? null, userId: who.userId ?? null, recipe, list });
  }

  private async optedOut(who: Visitor): Promise<boolean> {
    return who.userId !== undefined && (await this.deps.consent.optedOut(who.userId));
  }

  private async stateOfKey(key: string): Promise<SessionState | null> {
    const state = await this.deps.host.currentState(key);
    return state.eventCount === 0 ? null : state;
  }

  private async listOfKey(scorer: ListScorer, key: string, n: number, options: ListOptions): Promise<RecommendationList> {
    return recommendForState(scorer, this.deps.catalog, await this.stateOfKey(key), n, options);
  }
}

/** The popularity list: an opted-out user's, and what a cache serves when it has nothing and cannot compute. */
function popular(scorer: ListScorer, catalog: CatalogIndex, n: number, options: ListOptions): Promise<RecommendationList> {
  return recommendForState(scorer, catalog, null, n, options);
}

/** A list or a replay asked for no one. */
export const missingIdentity = (): AttuneError => new AttuneError('MISSING_IDENTITY', 'querystring must have sessionId or userId');

function optionsOf(options: ListOptions | OptionsForState, state: SessionState | null): Promise<ListOptions> {
  return typeof options === 'function' ? options(state) : Promise.resolve(options);
}
