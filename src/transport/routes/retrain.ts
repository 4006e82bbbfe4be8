import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { RetrainBusyError, type RetrainJobs } from '../../ops/retrain-jobs.js';
import { actorOf } from '../auth.js';
import type { AuditRecorder } from './deps.js';

/** What the retraining routes use of the node (HttpDeps carries it). */
export interface RetrainRouteDeps {
  retrain: RetrainJobs;
  audit: AuditRecorder;
}

const jobParamsSchema = {
  type: 'object',
  required: ['jobId'],
  properties: { jobId: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/**
 * POST /v1/admin/models/retrain runs retraining now on this node (src/ops/retrain-jobs.ts) and
 * answers 202 with the job at once, or 409 RETRAIN_RUNNING while a run is going on any node;
 * GET /v1/admin/models/retrain/:jobId follows a run started on this node.
 */
export function retrainRoutes(app: FastifyInstance, deps: RetrainRouteDeps): void {
  app.post('/v1/admin/models/retrain', { config: { access: 'admin' } }, async (request, reply) => {
    let started;
    try {
      started = await deps.retrain.run('request', actorOf(request));
    } catch (err) {
      if (err instanceof RetrainBusyError) throw new AttuneError('RETRAIN_RUNNING', `${err.message}: one run at a time; try again when it has finished`);
      throw err;
    }
    const { job } = started;
    request.log.info({ jobId: job.jobId }, 'retraining started');
    return reply.status(202).header('location', `/v1/admin/models/retrain/${job.jobId}`).send(job);
  });

  app.get('/v1/admin/models/retrain', { config: { access: 'admin' } }, async () => ({ leader: deps.retrain.isLeader(), jobs: deps.retrain.list() }));

  app.get<{ Params: { jobId: string } }>('/v1/admin/models/retrain/:jobId', { schema: { params: jobParamsSchema }, config: { access: 'admin' } }, async (request) => {
    const job = deps.retrain.get(request.params.jobId);
    if (job === null) throw new AttuneError('NOT_FOUND', `no retraining job ${request.params.jobId} on this node (a node keeps the runs it ran, its latest ones only)`);
    return job;
  });
}
