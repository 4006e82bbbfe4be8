import type { FastifyInstance } from 'fastify';
import type { IncomingEvent } from '../../session/events.js';
import { eventTypesOf, type SessionState } from '../../session/state.js';
import type { ListOptions } from '../../model/recommend.js';
import { parseArn } from '../../personalize/arns.js';
import { allowsItem, bindFilter, FilterExpressionError, parseFilterExpression } from '../../personalize/filter-expression.js';
import { itemUpdateFromProperties } from '../../personalize/item-properties.js';
import { EVENTS_PER_PUT_MAX, eventSchema, ID_MAX, idSchema, jsonBudgetProblem, PROPERTIES_MAX_BYTES } from '../schemas.js';
import { UnknownItemError } from '../../serving/index.js';
import { acceptEvents } from '../routes/events.js';
import type { HttpDeps } from '../routes/deps.js';
import { invalidInput, notFound, sendPersonalizeError } from './errors.js';

const id = idSchema;
const arn = { type: 'string', minLength: 1, maxLength: 256 } as const;
const filterValues = { type: 'object', maxProperties: 25, additionalProperties: { type: 'string', maxLength: 1000 } } as const;
/** Personalize's `properties` are a JSON object serialized into a string. */
const propertiesText = { type: 'string', maxLength: 24_000 } as const;

interface PersonalizeEvent {
  eventId?: string;
  eventType: string;
  eventValue?: number;
  itemId?: string;
  properties?: string;
  sentAt: number;
  recommendationId?: string;
  impression?: string[];
}

const putEventsSchema = {
  type: 'object',
  required: ['trackingId', 'sessionId', 'eventList'],
  properties: {
    trackingId: { type: 'string', minLength: 1, maxLength: 256 },
    userId: id,
    sessionId: id,
    eventList: {
      type: 'array',
      minItems: 1,
      maxItems: EVENTS_PER_PUT_MAX,
      items: {
        type: 'object',
        required: ['eventType', 'sentAt'],
        properties: {
          eventId: eventSchema.properties.eventId,
          eventType: eventSchema.properties.eventType,
          eventValue: eventSchema.properties.eventValue,
          itemId: id,
          properties: { type: 'string', maxLength: 1024 },
          sentAt: { type: 'number', minimum: 0 },
          recommendationId: { type: 'string', maxLength: ID_MAX },
          impression: eventSchema.properties.impression,
          metricAttribution: { type: 'object' },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

const putItemsSchema = {
  type: 'object',
  required: ['datasetArn', 'items'],
  additionalProperties: false,
  properties: {
    datasetArn: arn,
    items: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'object', required: ['itemId'], additionalProperties: false, properties: { itemId: id, properties: propertiesText } } },
  },
} as const;

const putUsersSchema = {
  type: 'object',
  required: ['datasetArn', 'users'],
  additionalProperties: false,
  properties: {
    datasetArn: arn,
    users: { type: 'array', minItems: 1, maxItems: 10, items: { type: 'object', required: ['userId'], additionalProperties: false, properties: { userId: id, properties: propertiesText } } },
  },
} as const;

interface PromotionRequest {
  name: string;
  percentPromotedItems: number;
  filterArn: string;
  filterValues?: Record<string, string>;
}

interface RecommendationsBody {
  campaignArn?: string;
  recommenderArn?: string;
  userId?: string;
  itemId?: string;
  numResults?: number;
  context?: Record<string, string>;
  filterArn?: string;
  filterValues?: Record<string, string>;
  promotions?: PromotionRequest[];
  metadataColumns?: Record<string, string[]>;
}

const recommendationsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    campaignArn: arn,
    recommenderArn: arn,
    userId: id,
    itemId: id,
    numResults: { type: 'integer', minimum: 1, maximum: 500 },
    context: { type: 'object', maxProperties: 150, additionalProperties: { type: 'string', maxLength: 1000 } },
    filterArn: arn,
    filterValues,
    promotions: {
      type: 'array',
      maxItems: 1,
      items: {
        type: 'object',
        required: ['name', 'percentPromotedItems', 'filterArn'],
        additionalProperties: false,
        properties: { name: { type: 'string', minLength: 1, maxLength: 63 }, percentPromotedItems: { type: 'integer', minimum: 1, maximum: 100 }, filterArn: arn, filterValues },
      },
    },
    metadataColumns: { type: 'object' },
  },
} as const;

interface RankingBody {
  campaignArn: string;
  inputList: string[];
  userId: string;
  context?: Record<string, string>;
  filterArn?: string;
  filterValues?: Record<string, string>;
  metadataColumns?: Record<string, string[]>;
}

const rankingSchema = {
  type: 'object',
  required: ['campaignArn', 'inputList', 'userId'],
  additionalProperties: false,
  properties: {
    campaignArn: arn,
    inputList: { type: 'array', minItems: 1, maxItems: 500, items: id },
    userId: id,
    context: recommendationsSchema.properties.context,
    filterArn: arn,
    filterValues,
    metadataColumns: { type: 'object' },
  },
} as const;

/** Item and user metadata may be far larger than an event's properties (descriptions). */
const METADATA_MAX_BYTES = 24_000;

/** A JSON object in a string, within `maxBytes`. Null fields (Personalize's nullable ones) are left out. */
function parseProperties(text: string | undefined, where: string, maxBytes = PROPERTIES_MAX_BYTES): Record<string, unknown> | undefined {
  if (text === undefined || text === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidInput(`${where} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidInput(`${where} must be a JSON object`);
  const problem = jsonBudgetProblem(parsed, maxBytes);
  if (problem !== null) throw invalidInput(`${where} ${problem}`);
  return Object.fromEntries(Object.entries(parsed).filter(([, value]) => value !== null));
}

/**
 * Amazon Personalize's events and runtime APIs (REST-JSON), as the official SDK clients call
 * them: PutEvents, PutItems, PutUsers, GetRecommendations, GetPersonalizedRanking. Errors take
 * Personalize's shape. Authenticated with an Attune API key or AWS Signature V4 (src/transport/auth.ts).
 */
export function personalizeRoutes(app: FastifyInstance, deps: HttpDeps): void {
  void app.register(async (scope) => {
    scope.setErrorHandler((error, request, reply) => sendPersonalizeError(error, request, reply));
    // The SDK reports it as $metadata.requestId.
    scope.addHook('onSend', async (request, reply) => {
      reply.header('x-amzn-requestid', request.id);
    });
    // Operations of the Personalize APIs Attune does not serve: an exception the SDK can name.
    for (const [path, access] of [['/actions', 'ingest'], ['/action-interactions', 'ingest'], ['/action-recommendations', 'recommend']] as const) {
      scope.post(path, { config: { access, sigv4: true } }, async () => {
        throw invalidInput(`${path} (the Actions API) is not supported by Attune`);
      });
    }

    scope.post<{ Body: { trackingId: string; userId?: string; sessionId: string; eventList: PersonalizeEvent[] } }>(
      '/events',
      { schema: { body: putEventsSchema }, config: { access: 'ingest', sigv4: true } },
      async (request, reply) => {
        const { sessionId, userId, eventList } = request.body;
        const events: IncomingEvent[] = [];
        for (const [i, event] of eventList.entries()) {
          const properties = parseProperties(event.properties, `eventList[${i}].properties`);
          // Attune's lists are of items: an event about no item (a session start) is acknowledged and not kept.
          if (event.itemId === undefined) continue;
          events.push({
            eventType: event.eventType,
            itemId: event.itemId,
            // Personalize times are epoch seconds.
            sentAt: Math.round(event.sentAt * 1000),
            ...(event.eventValue === undefined ? {} : { eventValue: event.eventValue }),
            ...(properties === undefined ? {} : { properties }),
            ...(event.recommendationId === undefined ? {} : { recommendationId: event.recommendationId }),
            ...(event.impression === undefined ? {} : { impression: event.impression }),
            ...(event.eventId === undefined ? {} : { eventId: event.eventId }),
          });
        }
        if (events.length > 0) await acceptEvents(deps, reply, { sessionId, userId }, events);
        return {};
      },
    );

    scope.post<{ Body: { datasetArn: string; items: Array<{ itemId: string; properties?: string }> } }>(
      '/items',
      { schema: { body: putItemsSchema }, config: { access: 'ingest', sigv4: true } },
      async (request) => {
        const updates = request.body.items.map((item, i) => {
          const update = itemUpdateFromProperties(item.itemId, parseProperties(item.properties, `items[${i}].properties`, METADATA_MAX_BYTES) ?? {});
          if (typeof update === 'string') throw invalidInput(`items[${i}].properties: ${update}`);
          return update;
        });
        const stored = await deps.catalogStore.upsert(updates);
        const stockChanged = deps.catalog.apply(stored);
        if (stockChanged.length > 0) deps.host.onStockChanged(stockChanged);
        return {};
      },
    );

    scope.post<{ Body: { datasetArn: string; users: Array<{ userId: string; properties?: string }> } }>(
      '/users',
      { schema: { body: putUsersSchema }, config: { access: 'ingest', sigv4: true } },
      async (request) => {
        const users = [];
        for (const [i, user] of request.body.users.entries()) {
          const properties = parseProperties(user.properties, `users[${i}].properties`, METADATA_MAX_BYTES) ?? {};
          const attributes: Record<string, string> = {};
          for (const [name, value] of Object.entries(properties)) {
            if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw invalidInput(`users[${i}].properties.${name} must be a string, number or boolean`);
            attributes[name] = String(value);
          }
          // The nested ids are not covered by the hook that pseudonymizes top-level ones.
          const userId = deps.pseudonyms.user(user.userId);
          if (!(await deps.consent.optedOut(userId))) users.push({ userId, attributes });
        }
        await deps.stores.users.put(users);
        return {};
      },
    );

    scope.post<{ Body: RecommendationsBody }>('/recommendations', { schema: { body: recommendationsSchema }, config: { access: 'recommend', sigv4: true } }, async (request) => {
      const body = request.body;
      const stop = deps.metrics.recommendationLatency.startTimer({ route: 'personalize-recommendations' });
      const served = body.campaignArn ?? body.recommenderArn;
      if ((body.campaignArn === undefined) === (body.recommenderArn === undefined)) throw invalidInput('give exactly one of campaignArn or recommenderArn');
      const resource = parseArn(served ?? '');
      if (resource === null || resource.kind === 'filter') throw invalidInput(`${body.campaignArn === undefined ? 'recommenderArn' : 'campaignArn'} is not a campaign or recommender ARN`);
      if (body.userId === undefined && body.itemId === undefined) throw invalidInput('give a userId or an itemId');
      const who = body.userId === undefined ? {} : { userId: body.userId };
      const n = body.numResults ?? 25;
      // The filters test the user's own events: they are bound to the state the list is for.
      const options = async (state: SessionState | null): Promise<ListOptions> => {
        const filtered = await listOptions(body.filterArn, body.filterValues, state);
        const promotion = body.promotions?.[0];
        if (promotion === undefined) return filtered;
        const promoted = await listOptions(promotion.filterArn, promotion.filterValues, state);
        return { ...filtered, promotion: { name: promotion.name, share: promotion.percentPromotedItems / 100, allows: promoted.allow ?? (() => true) } };
      };
      // Personalize lists are always computed: their filters differ per request.
      const { list, arm } =
        body.itemId === undefined
          ? await deps.recommendations.list({ who, n, options, cache: 'none' })
          : await deps.recommendations.related({ itemId: body.itemId, who, n, options, cache: 'none' }).catch((err: unknown) => {
              throw err instanceof UnknownItemError ? invalidInput(err.message) : err;
            });
      stop({ arm });
      return {
        itemList: list.items.map((item) => ({ itemId: item.itemId, score: item.score, ...(item.promotionName === undefined ? {} : { promotionName: item.promotionName }) })),
        recommendationId: list.recommendationId,
      };
    });

    scope.post<{ Body: RankingBody }>('/personalize-ranking', { schema: { body: rankingSchema }, config: { access: 'recommend', sigv4: true } }, async (request) => {
      const body = request.body;
      const resource = parseArn(body.campaignArn);
      if (resource === null || resource.kind !== 'campaign') throw invalidInput('campaignArn is not a campaign ARN');
      // A caller ranking its own list chose it: only its filter drops items.
      const list = await deps.recommendations.rank({ who: { userId: body.userId }, inputList: body.inputList, options: (state) => listOptions(body.filterArn, body.filterValues, state) });
      return { personalizedRanking: list.items.map(({ itemId, score }) => ({ itemId, score })), recommendationId: list.recommendationId };
    });
  });

  /** A stored filter applied with its parameters, as the list's extra predicate. */
  async function listOptions(arnText: string | undefined, values: Record<string, string> | undefined, state: SessionState | null): Promise<ListOptions> {
    if (arnText === undefined) return {};
    const resource = parseArn(arnText);
    if (resource === null || resource.kind !== 'filter') throw invalidInput(`${arnText} is not a filter ARN`);
    const stored = await deps.stores.filters.get(resource.name);
    if (stored === null) throw notFound(`filter ${resource.name} does not exist`);
    let bound;
    try {
      bound = bindFilter(parseFilterExpression(stored.filterExpression), values ?? {});
    } catch (err) {
      if (err instanceof FilterExpressionError) throw invalidInput(err.message);
      throw err;
    }
    return { allow: (itemId) => allowsItem(bound, { itemId, item: deps.catalog.get(itemId), eventTypes: eventTypesOf(state, itemId) }) };
  }
}

