import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AttuneError } from '../errors.js';
import { allows, extractPresentedKey, type ApiKeyAuthenticator, type Principal } from '../security/api-keys.js';
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
  }
  interface FastifyInstance {
    /** Every route with its access, in registration order (HEAD twins of GET routes left out). */
    routeAccess: RouteAccess[];
  }
  interface FastifyRequest {
    /** The key the request was made with; null on public routes. */
    principal: Principal | null;
  }
}

export interface AuthDeps {
  authenticator: ApiKeyAuthenticator;
  /** Requests per API key. */
  limiter: RateLimiter;
  /** Counts each refusal by reason. */
  refused: (reason: 'unauthorized' | 'forbidden' | 'rate_limited') => void;
}

const REFUSALS = {
  missing: 'an API key is required: send "authorization: Bearer <key>" or "x-api-key: <key>"',
  malformed: 'the API key is malformed',
  unknown: 'the API key is not valid',
  revoked: 'the API key was revoked',
} as const;

/**
 * Every route states its access in its options (`config: { access }`); registering one that
 * does not is a programming error caught at start, so no route is ever open by omission.
 * Must be installed before the routes.
 */
export function installAuth(app: FastifyInstance, deps: AuthDeps): void {
  app.decorateRequest('principal', null);
  const routes: RouteAccess[] = [];
  app.decorate('routeAccess', routes);
  app.addHook('onRoute', (route) => {
    const access = (route.config as { access?: Access } | undefined)?.access;
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access (config.access)`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url, access });
  });
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // Unrouted requests (404) carry no config; the not-found handler answers them.
    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'public') return;
    const outcome = await deps.authenticator.authenticate(extractPresentedKey(request.headers));
    if (!outcome.ok) {
      deps.refused('unauthorized');
      throw new AttuneError('UNAUTHORIZED', REFUSALS[outcome.reason]);
    }
    const { principal } = outcome;
    if (!allows(principal.roles, access)) {
      deps.refused('forbidden');
      throw new AttuneError('FORBIDDEN', `this route needs the ${access} role; the key has ${principal.roles.join(', ')}`);
    }
    const { allowed, retryAfterMs } = deps.limiter.take(principal.keyId);
    if (!allowed) {
      deps.refused('rate_limited');
      reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      throw new AttuneError('RATE_LIMITED', `too many requests for this API key: retry in ${retryAfterMs} ms`);
    }
    request.principal = principal;
  });
}

/** The audit log's actor for a request: the key id (never the key). */
export function actorOf(request: FastifyRequest): string {
  return request.principal?.keyId ?? 'anonymous';
}
