import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AttuneError, errorBody } from '../../errors.js';
import type { Scorer } from '../../model/scorer.js';
import { recordServedModel } from '../../ops/metrics.js';
import { strangerToCatalog } from '../../serving/index.js';
import { swapModelSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

const WEB_FILES: Readonly<Record<string, string>> = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css', '/replay.html': 'replay.html', '/replay.js': 'replay.js', '/attune-client.js': '../clients/js/dist/browser/attune.js' };
const CONTENT_TYPES: Readonly<Record<string, string>> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** Health, metrics, the single-bundle model admin API (through the registry: every node follows) and the demo page. */
export function operationRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/healthz', { config: { access: 'public' } }, async () => ({ status: 'ok', modelVersion: deps.model.manifest.version, liveActors: deps.host.liveActorCount }));

  app.get('/readyz', { config: { access: 'public' } }, async (_request, reply) => {
    const reason = deps.notReadyReason();
    if (reason !== null) return reply.status(503).send({ error: errorBody(new AttuneError('NOT_READY', reason)) });
    // Still ready when the registry's live version failed to load here: the model it had keeps serving.
    const follow = deps.modelFollower.status();
    const experiment = deps.arms.view();
    // Still ready when a candidate failed to load: everyone gets the live model, and this says so.
    const experimentStatus = experiment.configuredShare === null ? {} : { experiment: { running: experiment.running, candidateVersion: experiment.salt, problem: experiment.problem } };
    return { status: 'ready', modelVersion: deps.model.manifest.version, ...(follow.wantedModelVersion === null ? {} : follow), ...experimentStatus };
  });

  app.get('/metrics', { config: { access: 'public' } }, async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/v1/admin/model', { config: { access: 'admin' } }, async () => ({ dir: deps.model.dir, manifest: deps.model.manifest }));

  app.post<{ Body: { dir: string; force?: boolean } }>('/v1/admin/model', { schema: { body: swapModelSchema }, config: { access: 'admin' } }, async (request) => {
    // A bundle that knows none of the catalog's items would serve lists of items the shop lacks: only when forced.
    const fitsCatalog = (candidate: Scorer): void => {
      if (request.body.force !== true && strangerToCatalog(candidate.itemIds, deps.catalog)) {
        throw new AttuneError('MODEL_MISMATCH', `none of the bundle's ${candidate.itemIds.length} items is in the catalog (${deps.catalog.size} items): send "force": true to swap anyway`);
      }
    };
    let swapped;
    try {
      swapped = await deps.model.swap(request.body.dir, fitsCatalog);
    } catch (err) {
      await deps.audit(request, { action: 'model.swap', target: request.body.dir, outcome: 'failed' });
      if (err instanceof AttuneError) throw err;
      throw new AttuneError('INVALID_MODEL', err instanceof Error ? err.message : String(err));
    }
    const { previous, current } = swapped;
    request.log.info({ previous: previous.version, current: current.version }, 'model swapped');
    deps.metrics.modelSwaps.inc();
    recordServedModel(deps.metrics, current);
    // Loaded here: now registered (when new) and promoted, so every node follows.
    try {
      await deps.modelAdmin.makeLive(request.body.dir, current);
    } catch (err) {
      await deps.audit(request, { action: 'model.swap', target: current.version, outcome: 'failed', detail: { dir: request.body.dir } });
      // This node goes back to the registry's live version.
      await deps.modelFollower.sync();
      throw err;
    }
    await deps.audit(request, { action: 'model.swap', target: current.version, outcome: 'ok', detail: { previousVersion: previous.version, dir: request.body.dir } });
    return { modelVersion: current.version, previousVersion: previous.version };
  });

  // The demo page's item titles, without a key: only in development mode, where the page runs.
  if (deps.config.security.dev) {
    app.get('/demo/items', { config: { access: 'public' } }, async () => ({ items: deps.catalog.all() }));
  }

  for (const [route, file] of Object.entries(WEB_FILES)) {
    app.get(route, { config: { access: 'public' } }, async (_request, reply) => {
      const body = await readFile(join(deps.webDir, file), 'utf8');
      return reply.header('content-type', CONTENT_TYPES[file.split('.').pop() ?? 'html']).send(body);
    });
  }
}
