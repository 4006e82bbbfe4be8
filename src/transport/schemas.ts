import { Ajv, type ErrorObject } from 'ajv';
import { EVENTS_PER_PUT_MAX, ID_MAX, PROPERTIES_MAX_DEPTH, eventSchema, idSchema } from '../session/event-schema.js';

/**
 * JSON schemas of the HTTP bodies and socket messages Attune accepts, shared by HTTP routes and
 * socket handlers so one definition decides what is valid everywhere. An event's own schema is
 * the session's (src/session/event-schema.ts), re-exported for the routes.
 */
export { EVENTS_PER_PUT_MAX, ID_MAX, PROPERTIES_MAX_BYTES, PROPERTIES_MAX_DEPTH, eventSchema, idSchema } from '../session/event-schema.js';

const id = idSchema;

export const putEventsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sessionId', 'eventList'],
  properties: {
    trackingId: { type: 'string', maxLength: ID_MAX },
    sessionId: id,
    userId: id,
    eventList: { type: 'array', minItems: 1, maxItems: EVENTS_PER_PUT_MAX, items: eventSchema },
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
  properties: { dir: { type: 'string', minLength: 1, maxLength: 4096 }, force: { type: 'boolean' } },
} as const;

export const socketAuthSchema = {
  type: 'object',
  required: ['sessionId'],
  properties: { sessionId: id, userId: id },
} as const;

export const socketTokenAuthSchema = {
  type: 'object',
  required: ['token'],
  properties: { token: { type: 'string', minLength: 1, maxLength: 2048 } },
} as const;

export const identifySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['userId'],
  properties: { userId: id },
} as const;

/** Bodies are never coerced: "5" is not a number. Query strings are, since they are all text. */
// verbose: errors carry their schema, so a value that fits none of an anyOf's forms is described by the anyOf's description.
export const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: true, verbose: true });

/** Keys that could reach an object's prototype if some later code copied them carelessly. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Why a free-form JSON value is refused, or null: more than `maxBytes` as JSON (UTF-8), nesting
 * deeper than PROPERTIES_MAX_DEPTH, or a prototype key. Walks without recursion and stops as
 * soon as the budget is spent, so a huge or deeply nested value costs little to refuse.
 */
export function jsonBudgetProblem(value: unknown, maxBytes: number): string | null {
  let bytes = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: next, depth } = stack.pop() as { value: unknown; depth: number };
    if (depth > PROPERTIES_MAX_DEPTH) return `nests deeper than ${PROPERTIES_MAX_DEPTH} levels`;
    if (typeof next === 'string') bytes += Buffer.byteLength(JSON.stringify(next), 'utf8');
    else if (typeof next === 'number' || typeof next === 'boolean' || next === null) bytes += String(next).length;
    else if (Array.isArray(next)) {
      bytes += 2 + Math.max(0, next.length - 1);
      for (const item of next) stack.push({ value: item, depth: depth + 1 });
    } else if (ArrayBuffer.isView(next) || next instanceof ArrayBuffer) {
      // socket.io hands binary attachments over as Buffers: not JSON, not kept.
      return 'holds binary data';
    } else if (typeof next === 'object') {
      const keys = Object.keys(next);
      bytes += 2 + Math.max(0, keys.length - 1);
      for (const key of keys) {
        if (FORBIDDEN_KEYS.has(key)) return `has the forbidden key "${key}"`;
        bytes += Buffer.byteLength(JSON.stringify(key), 'utf8') + 1;
        stack.push({ value: (next as Record<string, unknown>)[key], depth: depth + 1 });
      }
    } else return 'holds a value JSON cannot carry';
    if (bytes > maxBytes) return `is larger than ${maxBytes} bytes as JSON`;
  }
  return null;
}

bodyAjv.addKeyword({
  keyword: 'maxJsonBytes',
  type: 'object',
  schemaType: 'number',
  errors: true,
  validate: function maxJsonBytes(this: unknown, maxBytes: number, data: unknown): boolean {
    const problem = jsonBudgetProblem(data, maxBytes);
    if (problem === null) return true;
    (maxJsonBytes as unknown as { errors: Array<Partial<ErrorObject>> }).errors = [{ keyword: 'maxJsonBytes', message: problem, params: { maxBytes } }];
    return false;
  },
});
export const queryAjv = new Ajv({ allErrors: false, coerceTypes: 'array', useDefaults: true, removeAdditional: false, strict: true });

/** `eventList/0/itemId must NOT have more than 256 characters`: the message a client sees. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, root: string): string {
  // A value that fits none of several forms: the forms, not the first branch's complaint.
  const alternatives = errors?.find((e) => e.keyword === 'anyOf');
  const first = alternatives ?? errors?.[0];
  if (!first) return `${root} is invalid`;
  const described = (first.parentSchema as { description?: unknown } | undefined)?.description;
  if (first.keyword === 'anyOf' && typeof described === 'string') return `${root}${first.instancePath.replaceAll('/', '.')} must be ${described}`;
  const where = first.instancePath === '' ? root : `${root}${first.instancePath.replaceAll('/', '.')}`;
  if (first.keyword === 'additionalProperties') return `${where} has an unknown property "${String(first.params.additionalProperty)}"`;
  return `${where} ${first.message ?? 'is invalid'}`;
}
