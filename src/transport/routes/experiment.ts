import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from './deps.js';

/** GET /v1/admin/experiment: the arms this node serves, their shares and model versions (src/model/model-arms.ts). */
export function experimentRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/v1/admin/experiment', { config: { access: 'admin' } }, async () => deps.arms.view());
}
