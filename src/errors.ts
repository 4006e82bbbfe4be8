/**
 * Every error Attune reports to a client carries one of these stable codes. Clients switch on
 * the code; the message is for people and may change.
 */
export const ErrorCodes = {
  VALIDATION: { code: 'ATTUNE_ERR_VALIDATION', status: 400 },
  MISSING_IDENTITY: { code: 'ATTUNE_ERR_MISSING_IDENTITY', status: 400 },
  INVALID_MODEL: { code: 'ATTUNE_ERR_INVALID_MODEL', status: 400 },
  UNAUTHORIZED: { code: 'ATTUNE_ERR_UNAUTHORIZED', status: 401 },
  FORBIDDEN: { code: 'ATTUNE_ERR_FORBIDDEN', status: 403 },
  NOT_FOUND: { code: 'ATTUNE_ERR_NOT_FOUND', status: 404 },
  MODEL_NOT_FOUND: { code: 'ATTUNE_ERR_MODEL_NOT_FOUND', status: 404 },
  REQUEST_TIMEOUT: { code: 'ATTUNE_ERR_REQUEST_TIMEOUT', status: 408 },
  IDENTITY_CONFLICT: { code: 'ATTUNE_ERR_IDENTITY_CONFLICT', status: 409 },
  MODEL_MISMATCH: { code: 'ATTUNE_ERR_MODEL_MISMATCH', status: 409 },
  MODEL_EXISTS: { code: 'ATTUNE_ERR_MODEL_EXISTS', status: 409 },
  MODEL_STAGE: { code: 'ATTUNE_ERR_MODEL_STAGE', status: 409 },
  PAYLOAD_TOO_LARGE: { code: 'ATTUNE_ERR_PAYLOAD_TOO_LARGE', status: 413 },
  UNSUPPORTED_MEDIA_TYPE: { code: 'ATTUNE_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  RATE_LIMITED: { code: 'ATTUNE_ERR_RATE_LIMITED', status: 429 },
  HEADERS_TOO_LARGE: { code: 'ATTUNE_ERR_HEADERS_TOO_LARGE', status: 431 },
  NOT_READY: { code: 'ATTUNE_ERR_NOT_READY', status: 503 },
  INTERNAL: { code: 'ATTUNE_ERR_INTERNAL', status: 500 },
} as const;

export type ErrorKind = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorKind]['code'];

export class AttuneError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(
    kind: ErrorKind,
    message: string,
    /** Why, in a word, for callers that map errors onto another API's (an authentication refusal's reason). */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'AttuneError';
    this.code = ErrorCodes[kind].code;
    this.statusCode = ErrorCodes[kind].status;
  }
}

/** The body of every error response and of every failed socket ack. */
export interface ErrorBody {
  code: string;
  message: string;
  /** Present and true when the same request may succeed if sent again later. */
  retryable?: true;
}

export function errorBody(err: AttuneError): ErrorBody {
  const retryable = err.code === ErrorCodes.NOT_READY.code || err.code === ErrorCodes.RATE_LIMITED.code;
  return retryable ? { code: err.code, message: err.message, retryable: true } : { code: err.code, message: err.message };
}

/**
 * A store that cannot answer means this node cannot accept anything now: the client should
 * retry (any node), and nothing was acknowledged.
 */
export function fromStoreFailure(err: unknown): AttuneError | null {
  if (err instanceof Error && err.name === 'StoreUnavailableError') return new AttuneError('NOT_READY', `not ready, retry: ${err.message}`);
  return null;
}
