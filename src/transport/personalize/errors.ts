import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AttuneError, ErrorCodes, fromStoreFailure } from '../../errors.js';

/**
 * Personalize's REST-JSON errors: the exception's name in `x-amzn-errortype` and `__type`, the
 * text in `message`. The AWS SDK turns them into exceptions of those names.
 */
export type PersonalizeErrorType =
  | 'InvalidInputException'
  | 'ResourceNotFoundException'
  | 'UnrecognizedClientException'
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'InvalidSignatureException'
  | 'AccessDeniedException'
  | 'ThrottlingException'
  | 'ServiceUnavailableException'
  | 'InternalFailure';

export class PersonalizeError extends Error {
  constructor(
    readonly type: PersonalizeErrorType,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

export const invalidInput = (message: string): PersonalizeError => new PersonalizeError('InvalidInputException', 400, message);
export const notFound = (message: string): PersonalizeError => new PersonalizeError('ResourceNotFoundException', 404, message);

/** Attune's stable codes, as the Personalize exception an SDK caller expects. */
function fromAttuneError(error: AttuneError): PersonalizeError {
  switch (error.code) {
    case ErrorCodes.UNAUTHORIZED.code:
      if (error.reason === 'missing') return new PersonalizeError('MissingAuthenticationTokenException', 403, error.message);
      if (error.reason === 'malformed') return new PersonalizeError('IncompleteSignatureException', 400, error.message);
      if (error.reason === 'bad-signature' || error.reason === 'expired') return new PersonalizeError('InvalidSignatureException', 403, error.message);
      return new PersonalizeError('UnrecognizedClientException', 403, error.message);
    case ErrorCodes.FORBIDDEN.code:
      return new PersonalizeError('AccessDeniedException', 403, error.message);
    case ErrorCodes.RATE_LIMITED.code:
      return new PersonalizeError('ThrottlingException', 429, error.message);
    case ErrorCodes.NOT_READY.code:
      return new PersonalizeError('ServiceUnavailableException', 503, error.message);
    case ErrorCodes.NOT_FOUND.code:
      return notFound(error.message);
    case ErrorCodes.INTERNAL.code:
      return new PersonalizeError('InternalFailure', 500, 'internal error');
    default:
      return invalidInput(error.message);
  }
}

export function toPersonalizeError(error: unknown): PersonalizeError {
  if (error instanceof PersonalizeError) return error;
  if (error instanceof AttuneError) return fromAttuneError(error);
  const unavailable = fromStoreFailure(error);
  if (unavailable !== null) return fromAttuneError(unavailable);
  const fastifyError = error as Partial<FastifyError>;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) return invalidInput(fastifyError.message ?? 'invalid request');
  return new PersonalizeError('InternalFailure', 500, 'internal error');
}

export function sendPersonalizeError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const known = toPersonalizeError(error);
  if (known.statusCode >= 500 && known.type !== 'ServiceUnavailableException') request.log.error({ err: error }, 'request failed');
  if (known.type === 'ThrottlingException') reply.header('retry-after', reply.getHeader('retry-after') ?? '1');
  return reply.status(known.statusCode).header('x-amzn-errortype', known.type).send({ __type: known.type, message: known.message });
}
