import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { defaultFilter } from '../../model/filters.js';
import { rankItems, recommendForState, relatedItems, type ListOptions, type RecommendationList } from '../../model/recommend.js';
import { StoreUnavailableError } from '../../store/types.js';
import { sessionKey } from '../../session/events.js';
import { filterFromQuery, filterQueryProperties, identityQueryProperties, keyFor, listOptionsFromQuery, type FilterQuery } from '../list-options.js';
import { idSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

const numResults = { type: 'integer', minimum: 1, maximum: 500, default: 25 } as const;

interface IdentityQuery {
  sessionId?: string;
  userId?: string;
}

type ListQuery = IdentityQuery & FilterQuery & { numResults: number };

interface RankingBody {
  sessionId?: string;
  userId?: string;
  inputList: string[];
  numResults?: number;
  filter?: FilterQuery;
}

const listQuerySchema = (extra: Record<string, unknown> = {}) => ({
  type: 'object',
  additionalProperties: false,
  properties: { ...identityQueryProperties, ...filterQueryProperties, numResults, ...extra },
});

const rankingBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['inputList'],
  properties: {
    ...identityQueryProperties,
    inputList: { type: 'array', minItems: 1, maxItems: 500, items: idSchema },
    numResults: { type: 'integer', minimum: 1, maximum: 500 },
    filter: {
      type: 'object',
      additionalProperties: false,
      properties: { excludeSeen: { type: 'boolean' }, excludePurchased: { type: 'boolean' }, includeOutOfStock: { type: 'boolean' }, category: filterQueryProperties.category, excludeCategory: filterQueryProperties.excludeCategory },
    },
  },
} as const;

const trendQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { numResults, category: filterQueryProperties.category, includeOutOfStock: { type: 'boolean' } },
} as const;

function toResponse(list: RecommendationList) {
  return { items: list.items, recommendationId: list.recommendationId, modelVersion: list.modelVersion, source: list.source };
}

/** Lists: personalized, related, re-ranked, popular and trending. */
export function recommendationRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const resolve = (sessionId: string) => deps.host.resolveKey({ sessionId });
  // An opted-out user gets what an anonymous visitor with no history gets.
  const optedOut = async (identity: IdentityQuery) => identity.userId !== undefined && (await deps.consent.optedOut(identity.userId));
  const stateFor = async (identity: IdentityQuery) => {
    if (await optedOut(identity)) return null;
    const key = await keyFor(identity, resolve);
    if (key === null) return null;
    const state = await deps.host.currentState(key);
    return state.eventCount === 0 ? null : state;
  };

  /** The popularity list: what a cache serves when it has nothing and cannot compute. */
  const popular = (n: number, options: ListOptions) => recommendForState(deps.model.scorer, deps.catalog, null, n, options);

  app.get<{ Querystring: ListQuery }>('/v1/recommendations', { schema: { querystring: listQuerySchema() }, config: { access: 'recommend' } }, async (request, reply) => {
    const stop = deps.metrics.recommendationLatency.startTimer({ route: 'recommendations' });
    const options = listOptionsFromQuery(request.query);
    const n = request.query.numResults;
    let key: string | null;
    try {
      key = await keyFor(request.query, resolve);
    } catch (err) {
      // Redis down: with a cache, the session's own cached list (or the fallback) beats an error.
      if (!(err instanceof StoreUnavailableError) || deps.lists === null || request.query.sessionId === undefined) throw err;
      key = sessionKey(request.query.sessionId);
    }
    if (key === null) throw new AttuneError('MISSING_IDENTITY', 'querystring must have sessionId or userId');
    const actorKey = key;
    // A live actor here is always current; only lists of keys without one are cached.
    const served = (await optedOut(request.query))
      ? { list: await popular(n, options), cache: 'bypass' }
      : deps.lists === null || deps.host.isLive(actorKey)
        ? { list: await deps.host.recommend(actorKey, n, options), cache: 'bypass' }
        : await deps.lists.recommendations.list({
            key: `${actorKey}|${deps.model.scorer.version}|${n}|${JSON.stringify(options)}`,
            n,
            excludeOutOfStock: options.filter?.excludeOutOfStock ?? true,
            compute: (candidates) => deps.host.recommend(actorKey, candidates, options),
            fallback: (count) => popular(count, options),
          });
    stop();
    reply.header('x-attune-cache', served.cache);
    return toResponse(served.list);
  });

  app.get<{ Params: { itemId: string }; Querystring: ListQuery }>(
    '/v1/items/:itemId/related',
    { schema: { params: { type: 'object', properties: { itemId: idSchema } }, querystring: listQuerySchema() }, config: { access: 'recommend' } },
    async (request, reply) => {
      const stop = deps.metrics.recommendationLatency.startTimer({ route: 'related' });
      const { itemId } = request.params;
      if (deps.catalog.get(itemId) === undefined && !deps.model.scorer.hasItem(itemId)) {
        throw new AttuneError('NOT_FOUND', `item ${itemId} is neither in the catalog nor in the model`);
      }
      const options = listOptionsFromQuery(request.query);
      const n = request.query.numResults;
      const anonymous = request.query.sessionId === undefined && request.query.userId === undefined;
      // Personalized related lists depend on the caller's state: only the anonymous ones are shared.
      const served =
        deps.lists === null || !anonymous
          ? { list: await relatedItems(deps.model.scorer, deps.catalog, itemId, await stateFor(request.query), n, options), cache: 'bypass' }
          : await deps.lists.related.list({
              key: `${itemId}|${deps.model.scorer.version}|${n}|${JSON.stringify(options)}`,
              n,
              excludeOutOfStock: options.filter?.excludeOutOfStock ?? true,
              compute: (candidates) => relatedItems(deps.model.scorer, deps.catalog, itemId, null, candidates, options),
              fallback: (count) => popular(count, options),
            });
      stop();
      reply.header('x-attune-cache', served.cache);
      return toResponse(served.list);
    },
  );

  app.post<{ Body: RankingBody }>('/v1/personalize-ranking', { schema: { body: rankingBodySchema }, config: { access: 'recommend' } }, async (request) => {
    const stop = deps.metrics.recommendationLatency.startTimer({ route: 'ranking' });
    const { inputList, filter } = request.body;
    // A caller ranking its own list chose it: nothing is dropped unless the request asks.
    const noExclusions = { ...defaultFilter, excludeOutOfStock: false, excludePurchased: false };
    const list = await rankItems(
      deps.model.scorer,
      deps.catalog,
      await stateFor(request.body),
      inputList,
      request.body.numResults ?? inputList.length,
      filterFromQuery(filter ?? {}, noExclusions),
    );
    stop();
    return { personalizedRanking: list.items, recommendationId: list.recommendationId, modelVersion: list.modelVersion, source: list.source };
  });

  for (const [route, counts] of [
    ['/v1/popular', deps.trends.popular],
    ['/v1/trending', deps.trends.trending],
  ] as const) {
    app.get<{ Querystring: { numResults: number } & FilterQuery }>(route, { schema: { querystring: trendQuerySchema }, config: { access: 'recommend' } }, async (request) => {
      const filter = filterFromQuery(request.query);
      const include = filter.includeCategories === null ? null : new Set(filter.includeCategories);
      const keep = (id: string) => (!filter.excludeOutOfStock || deps.catalog.isInStock(id)) && (include === null || include.has(deps.catalog.get(id)?.category ?? ''));
      const items = counts.top(request.query.numResults, deps.now(), keep);
      return { items, halfLifeMs: counts.halfLifeMs };
    });
  }
}
