import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { signSocketToken } from '../../security/socket-tokens.js';
import { idSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

interface TokenBody {
  sessionId: string;
  userId?: string;
  ttlSeconds?: number;
}

/**
 * POST /v1/tokens: the customer's backend asks for a short-lived token naming one session (and
 * its signed-in user) and hands it to the browser, whose socket presents it; the browser never
 * holds an API key. The userId in the token is already the pseudonym.
 */
export function tokenRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const tokenSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['sessionId'],
    properties: {
      sessionId: idSchema,
      userId: idSchema,
      ttlSeconds: { type: 'integer', minimum: 10, maximum: deps.config.security.tokenMaxTtlS },
    },
  } as const;

  app.post<{ Body: TokenBody }>('/v1/tokens', { schema: { body: tokenSchema }, config: { access: 'ingest' } }, async (request, reply) => {
    const { sessionId, userId, ttlSeconds } = request.body;
    const expiresAt = Math.floor(deps.now() / 1000) + (ttlSeconds ?? deps.config.security.tokenMaxTtlS);
    let token: string;
    try {
      token = signSocketToken(deps.tokenSecret, { sessionId, ...(userId === undefined ? {} : { userId }), expiresAt });
    } catch (err) {
      // Ids that escape into a token longer than a socket accepts.
      if (err instanceof RangeError) throw new AttuneError('VALIDATION', err.message);
      throw err;
    }
    return reply.status(201).send({ token, expiresAt });
  });
}
