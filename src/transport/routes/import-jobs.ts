import type { FastifyInstance } from 'fastify';
import type { AuditRecorder } from './deps.js';
import { AttuneError } from '../../errors.js';
import { IMPORT_FORMATS } from '../../ops/import.js';
import { ImportRequestError, type ImportJobRequest, type ImportJobs } from '../../ops/import-jobs.js';

/** What the import routes use of the node (HttpDeps carries it). */
export interface ImportJobRouteDeps {
  importJobs: ImportJobs;
  audit: AuditRecorder;
}

const path = { type: 'string', minLength: 1, maxLength: 4096 } as const;

export const importJobSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { interactions: path, items: path, users: path, format: { type: 'string', enum: [...IMPORT_FORMATS] } },
} as const;

const jobParamsSchema = {
  type: 'object',
  required: ['jobId'],
  properties: { jobId: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/**
 * POST /v1/import-jobs starts a bulk import of files on the node's filesystem (see
 * src/ops/import.ts) and answers 202 at once; GET /v1/import-jobs/:jobId follows it.
 */
export function importJobRoutes(app: FastifyInstance, deps: ImportJobRouteDeps): void {
  app.post<{ Body: ImportJobRequest }>('/v1/import-jobs', { schema: { body: importJobSchema }, config: { access: 'admin' } }, async (request, reply) => {
    let job;
    try {
      job = await deps.importJobs.start(request.body);
    } catch (err) {
      await deps.audit(request, { action: 'import.start', target: '', outcome: 'failed' });
      if (err instanceof ImportRequestError) throw new AttuneError('VALIDATION', err.message);
      throw err;
    }
    await deps.audit(request, { action: 'import.start', target: job.jobId, outcome: 'ok' });
    request.log.info({ jobId: job.jobId, request: job.request }, 'import job started');
    return reply
      .status(202)
      .header('location', `/v1/import-jobs/${job.jobId}`)
      .send({ jobId: job.jobId, status: job.status });
  });

  app.get('/v1/import-jobs', { config: { access: 'admin' } }, async () => ({ jobs: deps.importJobs.list() }));

  app.get<{ Params: { jobId: string } }>('/v1/import-jobs/:jobId', { schema: { params: jobParamsSchema }, config: { access: 'admin' } }, async (request) => {
    const job = deps.importJobs.get(request.params.jobId);
    if (job === null) throw new AttuneError('NOT_FOUND', `no import job ${request.params.jobId} (a node keeps its latest jobs only)`);
    return job;
  });
}
