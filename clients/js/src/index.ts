export { AttuneClient, createAttune, type AttuneOptions, type TrackOptions } from './client.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { EventQueue, type EventQueueOptions, type QueuedEvent } from './queue.js';
export { newEventId } from './event-id.js';
export { AttuneClientError, ClientErrorCodes, type ConnectionState, type ConnectionStatus, type IdentifyAck, type Recommendations, type ServerError, type StorageLike, type TokenGrant, type TrackAck } from './types.js';
