import { Ajv, type ErrorObject } from 'ajv';

/**
 * JSON schemas of every message Attune accepts, shared by HTTP routes and socket handlers so one
 * definition decides what is valid everywhere.
 */
export const ID_MAX = 256;

const id = { type: 'string', minLength: 1, maxLength: ID_MAX } as const;

export const eventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['eventType', 'itemId'],
  properties: {
    eventType: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' },
    itemId: id,
    eventValue: { type: 'number' },
    properties: { type: 'object' },
    sentAt: { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', minLength: 1, maxLength: 64 }] },
    eventId: { type: 'string', maxLength: ID_MAX },
  },
} as const;

export const putEventsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sessionId', 'eventList'],
  properties: {
    trackingId: { type: 'string', maxLength: ID_MAX },
    sessionId: id,
    userId: id,
    eventList: { type: 'array', minItems: 1, maxItems: 10, items: eventSchema },
  },
} as const;

const catalogItemUpdateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['itemId'],
  properties: {
    itemId: id,
    title: { type: 'string', maxLength: 1024 },
    category: { type: 'string', minLength: 1, maxLength: ID_MAX },
    price: { type: 'number', minimum: 0 },
    inStock: { type: 'boolean' },
  },
} as const;

export const putItemsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: { items: { type: 'array', minItems: 1, maxItems: 1000, items: catalogItemUpdateSchema } },
} as const;

export const listItemsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
} as const;

export const swapModelSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dir'],
  properties: { dir: { type: 'string', minLength: 1, maxLength: 4096 } },
} as const;

export const socketAuthSchema = {
  type: 'object',
  required: ['sessionId'],
  properties: { sessionId: id, userId: id },
} as const;

export const identifySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['userId'],
  properties: { userId: id },
} as const;

/** Bodies are never coerced: "5" is not a number. Query strings are, since they are all text. */
export const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: true });
export const queryAjv = new Ajv({ allErrors: false, coerceTypes: 'array', useDefaults: true, removeAdditional: false, strict: true });

/** `eventList/0/itemId must NOT have more than 256 characters`: the message a client sees. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, root: string): string {
  const first = errors?.[0];
  if (!first) return `${root} is invalid`;
  const where = first.instancePath === '' ? root : `${root}${first.instancePath.replaceAll('/', '.')}`;
  if (first.keyword === 'additionalProperties') return `${where} has an unknown property "${String(first.params.additionalProperty)}"`;
  return `${where} ${first.message ?? 'is invalid'}`;
}
