import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { AttuneError, ErrorCodes, errorBody, fromStoreFailure, type ErrorKind } from '../errors.js';
import type { HttpDeps } from './routes/deps.js';
import { replayRoutes } from './routes/replay.js';
import { importJobRoutes } from './routes/import-jobs.js';
import { cacheAdminRoutes } from './routes/cache-admin.js';
import { catalogRoutes } from './routes/catalog.js';
import { eventRoutes } from './routes/events.js';
import { operationRoutes } from './routes/operations.js';
import { recommendationRoutes } from './routes/recommendations.js';
import { segmentRoutes } from './routes/segments.js';
import { bodyAjv, describeErrors, queryAjv } from './schemas.js';

export type { HttpDeps } from './routes/deps.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createHttpApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({
    logger: deps.config.logLevel === 'silent' ? false : { level: deps.config.logLevel },
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

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));
  app.setSchemaErrorFormatter((errors, dataVar) => new AttuneError('VALIDATION', describeErrors(errors, dataVar)));
  app.setErrorHandler((error: FastifyError | AttuneError, request, reply) => {
    const known = toAttuneError(error);
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
  replayRoutes(app, deps);
  importJobRoutes(app, deps);
  cacheAdminRoutes(app, deps);
  return app;
}

/** Maps fastify's own errors onto Attune's stable codes. */
function toAttuneError(error: FastifyError | AttuneError): AttuneError {
  if (error instanceof AttuneError) return error;
  const unavailable = fromStoreFailure(error);
  if (unavailable !== null) return unavailable;
  const byFastifyCode: Readonly<Record<string, ErrorKind>> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'VALIDATION',
    FST_ERR_CTP_INVALID_JSON_BODY: 'VALIDATION',
    FST_ERR_VALIDATION: 'VALIDATION',
  };
  const kind = byFastifyCode[error.code];
  if (kind !== undefined) return new AttuneError(kind, error.message);
  if (error instanceof SyntaxError || error.statusCode === 400) return new AttuneError('VALIDATION', error.message);
  return new AttuneError('INTERNAL', 'internal error');
}
