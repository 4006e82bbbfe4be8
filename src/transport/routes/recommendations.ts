import type { FastifyInstance } from 'fastify';
import type { Arm } from '../../lib/experiment.js';
import type { RecommendationList } from '../../model/recommend.js';
import { RANKING_FILTER, type Visitor } from '../../serving/index.js';
import { filterFromQuery, filterQueryProperties, identityQueryProperties, listOptionsFromQuery, type FilterQuery } from '../list-options.js';
import { idSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

const numResults = { type: 'integer', minimum: 1, maximum: 500, default: 25 } as const;

type ListQuery = Visitor & FilterQuery & { numResults: number };

type RankingBody = Visitor & {
  inputList: string[];
  numResults?: number;
  filter?: FilterQuery;
};

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

function toResponse(list: RecommendationList, arm: Arm) {
  return { items: list.items, recommendationId: list.recommendationId, modelVersion: list.modelVersion, arm, source: list.source };
}

/** Lists: personalized, related, re-ranked, popular and trending. */
export function recommendationRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Querystring: ListQuery }>('/v1/recommendations', { schema: { querystring: listQuerySchema() }, config: { access: 'recommend' } }, async (request, reply) => {
    const stop = deps.metrics.recommendationLatency.startTimer({ route: 'recommendations' });
    const served = await deps.recommendations.list({ who: request.query, n: request.query.numResults, options: listOptionsFromQuery(request.query), cache: 'shared' });
    stop({ arm: served.arm });
    reply.header('x-attune-cache', served.cache);
    return toResponse(served.list, served.arm);
  });

  app.get<{ Params: { itemId: string }; Querystring: ListQuery }>(
    '/v1/items/:itemId/related',
    { schema: { params: { type: 'object', properties: { itemId: idSchema } }, querystring: listQuerySchema() }, config: { access: 'recommend' } },
    async (request, reply) => {
      const stop = deps.metrics.recommendationLatency.startTimer({ route: 'related' });
      const served = await deps.recommendations.related({
        itemId: request.params.itemId,
        who: request.query,
        n: request.query.numResults,
        options: listOptionsFromQuery(request.query),
        cache: 'shared',
      });
      stop({ arm: served.arm });
      reply.header('x-attune-cache', served.cache);
      return toResponse(served.list, served.arm);
    },
  );

  app.post<{ Body: RankingBody }>('/v1/personalize-ranking', { schema: { body: rankingBodySchema }, config: { access: 'recommend' } }, async (request) => {
    const stop = deps.metrics.recommendationLatency.startTimer({ route: 'ranking' });
    const { inputList, filter, numResults } = request.body;
    const list = await deps.recommendations.rank({
      who: request.body,
      inputList,
      ...(numResults === undefined ? {} : { n: numResults }),
      options: { filter: filterFromQuery(filter ?? {}, RANKING_FILTER) },
    });
    stop({ arm: list.arm });
    return { personalizedRanking: list.items, recommendationId: list.recommendationId, modelVersion: list.modelVersion, arm: list.arm, source: list.source };
  });

  for (const [route, counts] of [
    ['/v1/popular', deps.trends.popular],
    ['/v1/trending', deps.trends.trending],
  ] as const) {
    app.get<{ Querystring: { numResults: number } & FilterQuery }>(route, { schema: { querystring: trendQuerySchema }, config: { access: 'recommend' } }, async (request) => {
      const filter = filterFromQuery(request.query);
      const include = filter.includeCategories === null ? null : new Set(filter.includeCategories);
      const keep = (id: string) => (!filter.excludeOutOfStock || deps.catalog.isInStock(id)) && (include === null || include.has(deps.catalog.get(id)?.category ?? ''));
      const items = counts.top(request.query.numResults, keep);
      return { items, halfLifeMs: counts.halfLifeMs };
    });
  }
}
