import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { defaultFilter } from '../../model/filters.js';
import { rankItems, relatedItems, type RecommendationList } from '../../model/recommend.js';
import { filterFromQuery, filterQueryProperties, identityQueryProperties, keyFor, listOptionsFromQuery, type FilterQuery } from '../list-options.js';
import { ID_MAX } from '../schemas.js';
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
    inputList: { type: 'array', minItems: 1, maxItems: 500, items: { type: 'string', minLength: 1, maxLength: ID_MAX } },
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
  const stateFor = async (identity: IdentityQuery) => {
    const key = await keyFor(identity, resolve);
    if (key === null) return null;
    const state = await deps.host.currentState(key);
    return state.eventCount === 0 ? null : state;
  };

  app.get<{ Querystring: ListQuery }>('/v1/recommendations', { schema: { querystring: listQuerySchema() } }, async (request) => {
    const stop = deps.metrics.recommendationLatency.startTimer({ route: 'recommendations' });
    const key = await keyFor(request.query, resolve);
    if (key === null) throw new AttuneError('MISSING_IDENTITY', 'querystring must have sessionId or userId');
    const list = await deps.host.recommend(key, request.query.numResults, listOptionsFromQuery(request.query));
    stop();
    return toResponse(list);
  });

  app.get<{ Params: { itemId: string }; Querystring: ListQuery }>(
    '/v1/items/:itemId/related',
    { schema: { params: { type: 'object', properties: { itemId: { type: 'string', minLength: 1, maxLength: ID_MAX } } }, querystring: listQuerySchema() } },
    async (request) => {
      const stop = deps.metrics.recommendationLatency.startTimer({ route: 'related' });
      const { itemId } = request.params;
      if (deps.catalog.get(itemId) === undefined && !deps.model.scorer.hasItem(itemId)) {
        throw new AttuneError('NOT_FOUND', `item ${itemId} is neither in the catalog nor in the model`);
      }
      const list = await relatedItems(deps.model.scorer, deps.catalog, itemId, await stateFor(request.query), request.query.numResults, listOptionsFromQuery(request.query));
      stop();
      return toResponse(list);
    },
  );

  app.post<{ Body: RankingBody }>('/v1/personalize-ranking', { schema: { body: rankingBodySchema } }, async (request) => {
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
    app.get<{ Querystring: { numResults: number } & FilterQuery }>(route, { schema: { querystring: trendQuerySchema } }, async (request) => {
      const filter = filterFromQuery(request.query);
      const include = filter.includeCategories === null ? null : new Set(filter.includeCategories);
      const keep = (id: string) => (!filter.excludeOutOfStock || deps.catalog.isInStock(id)) && (include === null || include.has(deps.catalog.get(id)?.category ?? ''));
      const items = counts.top(request.query.numResults, deps.now(), keep);
      return { items, halfLifeMs: counts.halfLifeMs };
    });
  }
}
