import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AttuneError } from '../errors.js';
import { allows, extractPresentedKey, type ApiKeyAuthenticator, type AuthenticationResult, type Principal } from '../security/api-keys.js';
import type { RateLimiter } from '../security/token-bucket.js';
import type { Role } from '../store/types.js';

/** Who may call a route: anybody, or a key holding the role (admin holds every role). */
export type Access = Role | 'public';

export interface RouteAccess {
  method: string;
  url: string;
  access: Access;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** The route also takes AWS Signature V4 (the Personalize-compatible API); others refuse it. */
    sigv4?: boolean;
  }
  interface FastifyInstance {
    /** Every route with its access, in registration order (HEAD twins of GET routes left out). */
    routeAccess: RouteAccess[];
  }
  interface FastifyRequest {
    /** The key the request was made with; null on public routes. */
    principal: Principal | null;
    /** The body as received: what an AWS Signature V4 signs. Null without a body. */
    rawBody: Buffer | null;
  }
}

export interface AuthDeps {
  authenticator: ApiKeyAuthenticator;
  /** Requests per API key. */
  limiter: RateLimiter;
  /** Counts each refusal by reason. */
  refused: (reason: 'unauthorized' | 'forbidden' | 'rate_limited') => void;
  /**
   * AWS Signature V4 (the Personalize-compatible API's SDK clients), in two steps: `signer`
   * names the key from the Authorization header alone, before the body is read, so unknown keys,
   * missing roles and rate limits cost nothing more; `verifySigV4` checks the signature, which
   * covers the body.
   */
  signer: (request: FastifyRequest) => Promise<AuthenticationResult>;
  verifySigV4: (request: FastifyRequest) => Promise<AuthenticationResult>;
}

/** Requests signed by an AWS SDK: verified once the body is read, since the signature covers it. */
const SIGV4_AUTHORIZATION = /^AWS4-HMAC-SHA256\s/;

function signedWithSigV4(request: FastifyRequest): boolean {
  const header = request.headers.authorization;
  return typeof header === 'string' && SIGV4_AUTHORIZATION.test(header);
}

const REFUSALS = {
  missing: 'an API key is required: send "authorization: Bearer <key>" or "x-api-key: <key>"',
  malformed: 'the API key is malformed',
  unknown: 'the API key is not valid',
  revoked: 'the API key was revoked',
  'bad-signature': 'the request signature does not match (AWS Signature Version 4)',
  // The AWS SDKs correct their clock and retry on "Signature expired".
  expired: 'Signature expired: the request was signed more than 5 minutes from the server\'s time',
} as const;

/**
 * Every route states its access in its options (`config: { access }`); registering one that
 * does not is a programming error caught at start, so no route is ever open by omission.
 * Must be installed before the routes.
 */
export function installAuth(app: FastifyInstance, deps: AuthDeps): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('rawBody', null);
  const routes: RouteAccess[] = [];
  app.decorate('routeAccess', routes);
  app.addHook('onRoute', (route) => {
    const access = (route.config as { access?: Access } | undefined)?.access;
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access (config.access)`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url, access });
  });
  const authenticated = (outcome: AuthenticationResult): Principal => {
    if (!outcome.ok) {
      deps.refused('unauthorized');
      throw new AttuneError('UNAUTHORIZED', REFUSALS[outcome.reason], outcome.reason);
    }
    return outcome.principal;
  };
  const authorized = (principal: Principal, access: Role): Principal => {
    if (!allows(principal.roles, access)) {
      deps.refused('forbidden');
      throw new AttuneError('FORBIDDEN', `this route needs the ${access} role; the key has ${principal.roles.join(', ')}`);
    }
    return principal;
  };
  const withinLimit = (reply: FastifyReply, principal: Principal): Principal => {
    const { allowed, retryAfterMs } = deps.limiter.take(principal.keyId);
    if (!allowed) {
      deps.refused('rate_limited');
      reply.header('retry-after', retryAfterSeconds(retryAfterMs));
      throw new AttuneError('RATE_LIMITED', `too many requests for this API key: retry in ${retryAfterMs} ms`);
    }
    return principal;
  };
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // Unrouted requests (404) carry no config; the not-found handler answers them.
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public') return;
    if (!signedWithSigV4(request)) {
      request.principal = withinLimit(reply, authorized(authenticated(await deps.authenticator.authenticate(extractPresentedKey(request.headers))), access));
      return;
    }
    if (request.routeOptions.config.sigv4 !== true) {
      deps.refused('unauthorized');
      throw new AttuneError('UNAUTHORIZED', 'AWS Signature V4 is accepted on the Personalize-compatible routes only: send an API key', 'malformed');
    }
    // Before the body is read: the key must exist and have requests left. Its roles are told only to whoever signed.
    withinLimit(reply, authenticated(await deps.signer(request)));
  });
  app.addHook('preValidation', async (request: FastifyRequest) => {
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public' || !signedWithSigV4(request)) return;
    request.principal = authorized(authenticated(await deps.verifySigV4(request)), access);
  });
}

/** A `retry-after` header value: whole seconds, at least 1. */
export function retryAfterSeconds(retryAfterMs: number): string {
  return String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

/** The audit log's actor for a request: the key id (never the key). */
export function actorOf(request: FastifyRequest): string {
  return request.principal?.keyId ?? 'anonymous';
}
