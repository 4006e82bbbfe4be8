import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerFactory } from 'fastify';
import { installAuth } from './auth.js';
import { adminKeyRoutes } from './routes/admin-keys.js';
import { privacyRoutes } from './routes/privacy.js';
import { tokenRoutes } from './routes/tokens.js';
import { filterAdminRoutes } from './routes/filters-admin.js';
import { modelRegistryRoutes } from './routes/models-admin.js';
import { personalizeRoutes } from './personalize/routes.js';
import { AttuneError, ErrorCodes, errorBody, fromStoreFailure, type ErrorKind } from '../errors.js';
import type { HttpDeps } from './routes/deps.js';
import { replayRoutes } from './routes/replay.js';
import { experimentRoutes } from './routes/experiment.js';
import { importJobRoutes } from './routes/import-jobs.js';
import { cacheAdminRoutes } from './routes/cache-admin.js';
import { retrainRoutes } from './routes/retrain.js';
import { catalogRoutes } from './routes/catalog.js';
import { eventRoutes } from './routes/events.js';
import { onlineMetricsRoutes } from './routes/online-metrics.js';
import { operationRoutes } from './routes/operations.js';
import { recommendationRoutes } from './routes/recommendations.js';
import { segmentRoutes } from './routes/segments.js';
import { ID_MAX, bodyAjv, describeErrors, queryAjv } from './schemas.js';

export type { HttpDeps } from './routes/deps.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'fastify' {
  interface FastifyRequest {
    /** The userId the caller sent, before it was replaced by its pseudonym (for echoing back). */
    rawUserId: string | null;
  }
}

export function createHttpApp(deps: HttpDeps): FastifyInstance {
  const { tlsCert, tlsKey } = deps.config.security;
  const tls = tlsCert !== null && tlsKey !== null ? { cert: readFileSync(tlsCert), key: readFileSync(tlsKey) } : null;
  // HTTPS (and so WSS, which socket.io serves on the same server) when a certificate is configured;
  // an https.Server handles requests as an http.Server does, which is all fastify and socket.io use.
  const httpsFactory: FastifyServerFactory | null = tls === null ? null : (handler) => createHttpsServer(tls, handler) as unknown as HttpServer;
  const app = Fastify({
    ...(httpsFactory === null ? {} : { serverFactory: httpsFactory }),
    // A path the router cannot decode, or a parameter over its length: Attune's error shape too.
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply).status(400).send({ error: errorBody(new AttuneError('VALIDATION', error.message)) });
    },
    clientErrorHandler: answerClientError,
    // Path parameters are ids of up to ID_MAX characters: up to 4 UTF-8 bytes each, 3 characters per byte encoded.
    routerOptions: { maxParamLength: ID_MAX * 12 },
    ...(deps.logger === null ? { logger: false } : { loggerInstance: deps.logger }),
    bodyLimit: deps.config.http.bodyLimitBytes,
    // One line per request is noise on a hot API; debug turns it back on.
    logController: new LogController({ disableRequestLogging: deps.config.logLevel !== 'debug' }),
    // Every log line of a request carries its id: the caller's x-request-id when it is a sane one.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  installAuth(app, {
    authenticator: deps.authenticator,
    limiter: deps.keyLimiter,
    refused: (reason) => deps.metrics.refusals.inc({ transport: 'http', reason }),
    signer: deps.signer,
    verifySigV4: deps.verifySigV4,
  });
  // User ids are pseudonymized once, here, after validation: no route handles a raw one.
  app.decorateRequest('rawUserId', null);
  app.addHook('preHandler', async (request) => {
    for (const part of [request.query, request.body, request.params]) {
      if (typeof part !== 'object' || part === null || !('userId' in part) || typeof part.userId !== 'string') continue;
      request.rawUserId = part.userId;
      (part as { userId: string }).userId = deps.pseudonyms.user(part.userId);
    }
  });

  // JSON bodies must be valid UTF-8: a lenient decoder would turn different byte strings into the
  // same id (U+FFFD). Prototype poisoning is refused as by fastify's own parser.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeContentTypeParser('application/json');
  // Bodies are JSON only: fastify's own text/plain parser would hand a string to the schema (400, not 415).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(new AttuneError('VALIDATION', 'the body is not valid UTF-8'), undefined);
      return;
    }
    request.rawBody = body as Buffer;
    parseJson(request, text, done);
  });

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));
  app.setSchemaErrorFormatter((errors, dataVar) => new AttuneError('VALIDATION', describeErrors(errors, dataVar)));
  app.setErrorHandler((error: FastifyError | AttuneError, request, reply) => {
    const known = toAttuneError(error, request.headers['content-type']);
    if (known.statusCode >= 500 && known.code !== ErrorCodes.NOT_READY.code) request.log.error({ err: error }, 'request failed');
    return reply.status(known.statusCode).send({ error: errorBody(known) });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: ErrorCodes.NOT_FOUND.code, message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  eventRoutes(app, deps);
  recommendationRoutes(app, deps);
  catalogRoutes(app, deps);
  segmentRoutes(app, deps);
  operationRoutes(app, deps);
  modelRegistryRoutes(app, deps);
  replayRoutes(app, deps);
  onlineMetricsRoutes(app, deps);
  experimentRoutes(app, deps);
  importJobRoutes(app, deps);
  cacheAdminRoutes(app, deps);
  retrainRoutes(app, deps);
  tokenRoutes(app, deps);
  privacyRoutes(app, deps);
  adminKeyRoutes(app, deps);
  filterAdminRoutes(app, deps);
  personalizeRoutes(app, deps);
  return app;
}

/**
 * What Node's HTTP parser refuses before any route runs (a malformed request line, oversized
 * headers, a timeout) gets Attune's error shape; then the connection closes, as Node would.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const kind: ErrorKind = err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'VALIDATION';
  const refused = new AttuneError(kind, kind === 'VALIDATION' ? 'malformed HTTP request' : kind === 'HEADERS_TOO_LARGE' ? 'request headers too large' : 'request timed out');
  const body = JSON.stringify({ error: errorBody(refused) });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${refused.statusCode} ${STATUS_CODES[refused.statusCode] ?? ''}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** Maps fastify's own errors onto Attune's stable codes. */
function toAttuneError(error: FastifyError | AttuneError, contentType: string | undefined): AttuneError {
  if (error instanceof AttuneError) return error;
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new AttuneError('UNSUPPORTED_MEDIA_TYPE', `the body must be JSON (content-type: application/json), not ${contentType ?? 'untyped'}`);
  const unavailable = fromStoreFailure(error);
  if (unavailable !== null) return unavailable;
  const byFastifyCode: Readonly<Record<string, ErrorKind>> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'VALIDATION',
    FST_ERR_CTP_INVALID_JSON_BODY: 'VALIDATION',
    FST_ERR_VALIDATION: 'VALIDATION',
    FST_ERR_BAD_URL: 'VALIDATION',
  };
  const kind = byFastifyCode[error.code];
  if (kind !== undefined) return new AttuneError(kind, error.message);
  if (error instanceof SyntaxError || error.statusCode === 400) return new AttuneError('VALIDATION', error.message);
  return new AttuneError('INTERNAL', 'internal error');
}
