/**
 * What a valid event is, as a JSON schema with its limits: the session's vocabulary, shared by
 * every transport and by imports so one definition decides what is valid everywhere.
 */
export const ID_MAX = 256;
/** Events in one put. */
export const EVENTS_PER_PUT_MAX = 10;
/** An event's free-form properties, serialized as JSON. */
export const PROPERTIES_MAX_BYTES = 1024;
/** Nesting a properties object may have. */
export const PROPERTIES_MAX_DEPTH = 16;

/** Every id a client names: a session, a user, an item. */
export const idSchema = { type: 'string', minLength: 1, maxLength: ID_MAX } as const;
const id = idSchema;

/** A date, or a date and time with an optional fraction and zone: what `sentAt` may be as text. */
const ISO_8601 = '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:?\\d{2})?)?$';

export const eventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['eventType', 'itemId'],
  properties: {
    eventType: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' },
    itemId: id,
    eventValue: { type: 'number' },
    properties: { type: 'object', maxJsonBytes: PROPERTIES_MAX_BYTES },
    sentAt: { description: 'epoch milliseconds or an ISO-8601 date (time optional)', anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', maxLength: 40, pattern: ISO_8601 }] },
    /** The client's own id for the event: a resend with the same id within the dedup window is stored once. */
    eventId: { type: 'string', minLength: 1, maxLength: ID_MAX },
    /** Items shown with the event (Personalize's impression): counted as shown and not engaged with. */
    impression: { type: 'array', maxItems: 100, items: id },
    recommendationId: id,
  },
} as const;
