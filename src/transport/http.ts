import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { ActorHost } from '../actors/actor-host.js';
import { userKey, type IncomingEvent } from '../actors/events.js';
import type { AttuneConfig } from '../config.js';
import { AttuneError, ErrorCodes, type ErrorKind } from '../errors.js';
import type { CatalogIndex } from '../model/catalog.js';
import type { ModelSlot } from '../model/model-slot.js';
import type { Metrics } from '../ops/metrics.js';
import type { CatalogItemUpdate, CatalogStore } from '../store/types.js';
import { bodyAjv, describeErrors, listItemsQuerySchema, putEventsSchema, putItemsSchema, queryAjv, recommendationsQuerySchema, swapModelSchema } from './schemas.js';

export interface HttpDeps {
  config: AttuneConfig;
  host: ActorHost;
  catalog: CatalogIndex;
  catalogStore: CatalogStore;
  model: ModelSlot;
  metrics: Metrics;
  webDir: string;
}

interface PutEventsBody {
  sessionId: string;
  userId?: string;
  eventList: IncomingEvent[];
}

interface RecommendationsQuery {
  sessionId?: string;
  userId?: string;
  numResults: number;
}

const WEB_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const CONTENT_TYPES: Readonly<Record<string, string>> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

export function createHttpApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({
    logger: deps.config.logLevel === 'silent' ? false : { level: deps.config.logLevel },
    bodyLimit: deps.config.http.bodyLimitBytes,
    // One line per request is noise on a hot API; debug turns it back on.
    logController: new LogController({ disableRequestLogging: deps.config.logLevel !== 'debug' }),
  });

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));
  app.setSchemaErrorFormatter((errors, dataVar) => new AttuneError('VALIDATION', describeErrors(errors, dataVar)));
  app.setErrorHandler((error: FastifyError | AttuneError, request, reply) => {
    const known = toAttuneError(error);
    if (known.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply.status(known.statusCode).send({ error: { code: known.code, message: known.message } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: ErrorCodes.NOT_FOUND.code, message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  app.post<{ Body: PutEventsBody }>('/v1/events', { schema: { body: putEventsSchema } }, async (request) => {
    const { sessionId, userId, eventList } = request.body;
    try {
      const entries = await deps.host.ingest({ sessionId, ...(userId === undefined ? {} : { userId }) }, eventList);
      deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'accepted' });
      return { eventIds: entries.map((e) => e.eventId) };
    } catch (err) {
      deps.metrics.putEventsRequests.inc({ transport: 'http', outcome: 'rejected' });
      throw err;
    }
  });

  app.get<{ Querystring: RecommendationsQuery }>('/v1/recommendations', { schema: { querystring: recommendationsQuerySchema } }, async (request) => {
    const { sessionId, userId, numResults } = request.query;
    const stop = deps.metrics.recommendationLatency.startTimer({ route: 'http' });
    const key =
      userId !== undefined
        ? userKey(userId)
        : sessionId !== undefined
          ? await deps.host.resolveKey({ sessionId })
          : missingIdentity();
    const list = await deps.host.recommend(key, numResults);
    stop();
    return { items: list.items, recommendationId: list.recommendationId, modelVersion: list.modelVersion, source: list.source };
  });

  app.put<{ Body: { items: CatalogItemUpdate[] } }>('/v1/items', { schema: { body: putItemsSchema } }, async (request) => {
    const stored = await deps.catalogStore.upsert(request.body.items);
    const stockChanged = deps.catalog.apply(stored);
    if (stockChanged.length > 0) deps.host.onStockChanged(stockChanged);
    return { items: stored };
  });

  app.get<{ Querystring: { limit: number; offset: number } }>('/v1/items', { schema: { querystring: listItemsQuerySchema } }, async (request) => {
    const { limit, offset } = request.query;
    const all = deps.catalog.all();
    return { items: all.slice(offset, offset + limit), total: all.length };
  });

  app.get('/healthz', async () => ({ status: 'ok', modelVersion: deps.model.manifest.version, liveActors: deps.host.liveActorCount }));

  app.get('/v1/admin/model', async () => ({ dir: deps.model.dir, manifest: deps.model.manifest }));

  app.post<{ Body: { dir: string } }>('/v1/admin/model', { schema: { body: swapModelSchema } }, async (request) => {
    try {
      const { previous, current } = await deps.model.swap(request.body.dir);
      request.log.info({ previous: previous.version, current: current.version }, 'model swapped');
      deps.metrics.modelSwaps.inc();
      return { modelVersion: current.version, previousVersion: previous.version };
    } catch (err) {
      throw new AttuneError('INVALID_MODEL', err instanceof Error ? err.message : String(err));
    }
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  for (const [route, file] of Object.entries(WEB_FILES)) {
    app.get(route, async (_request, reply) => {
      const body = await readFile(join(deps.webDir, file), 'utf8');
      return reply.header('content-type', CONTENT_TYPES[file.split('.').pop() ?? 'html']).send(body);
    });
  }

  return app;
}

function missingIdentity(): never {
  throw new AttuneError('MISSING_IDENTITY', 'querystring must have sessionId or userId');
}

/** Maps fastify's own errors onto Attune's stable codes. */
function toAttuneError(error: FastifyError | AttuneError): AttuneError {
  if (error instanceof AttuneError) return error;
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
