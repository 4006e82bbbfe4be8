import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AttuneError } from '../../errors.js';
import type { CatalogFit } from '../../ops/model-admin.js';
import { strangerToCatalog } from '../../serving/index.js';
import type { AuditEntry, LiveChange } from '../../store/types.js';
import type { HttpDeps } from './deps.js';

/** Versions as bundles name them (`item-item-0123456789ab`) and as other tools might. */
export const MODEL_VERSION_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}$';

const versionParams = { type: 'object', additionalProperties: false, required: ['version'], properties: { version: { type: 'string', pattern: MODEL_VERSION_PATTERN } } } as const;
const registerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dir'],
  properties: { dir: { type: 'string', minLength: 1, maxLength: 4096 }, version: { type: 'string', pattern: MODEL_VERSION_PATTERN } },
} as const;
const promoteSchema = { type: 'object', additionalProperties: false, properties: { force: { type: 'boolean' } } } as const;

/**
 * The model registry over HTTP (role admin): list, register, promote, roll back, retire. A
 * promote loads the bundle on the node that takes the request first, so a bundle that does not
 * load (or fits no catalog item, unless forced) is refused before any node is told to serve it.
 * Every change is audited and announced; each node's follower then swaps within seconds.
 */
export function modelRegistryRoutes(app: FastifyInstance, deps: HttpDeps): void {
  /** Runs the change and audits it either way; `done` may name the outcome's target and details (a rollback's versions). */
  const audited = async <T>(
    request: FastifyRequest,
    entry: Pick<AuditEntry, 'action' | 'target' | 'detail'>,
    change: () => Promise<T>,
    done: (result: T) => Partial<Pick<AuditEntry, 'target' | 'detail'>> = () => ({}),
  ): Promise<T> => {
    let result: T;
    try {
      result = await change();
    } catch (err) {
      await deps.audit(request, { ...entry, outcome: 'failed', detail: { ...entry.detail, ...(err instanceof AttuneError ? { code: err.code } : {}) } });
      throw err;
    }
    await deps.audit(request, { ...entry, ...done(result), outcome: 'ok' });
    return result;
  };
  const changeDetail = (change: LiveChange) => ({ target: change.live.version, detail: { previousVersion: change.previous?.version ?? '' } });
  const fitsCatalog =
    (force: boolean | undefined): CatalogFit =>
    (itemIds) => {
      // A bundle that knows none of the catalog's items would serve lists of items the shop lacks: only when forced.
      if (force !== true && strangerToCatalog(itemIds, deps.catalog)) {
        throw new AttuneError('MODEL_MISMATCH', `none of the bundle's ${itemIds.length} items is in the catalog (${deps.catalog.size} items): send "force": true to swap anyway`);
      }
    };
  /** Loads the bundle here (the check a promote passes first); the node follows the registry again after. */
  const loadHere = async (dir: string, version: string, force: boolean | undefined): Promise<void> => {
    try {
      await deps.model.swap(dir, (candidate) => {
        if (candidate.manifest.version !== version) throw new AttuneError('INVALID_MODEL', `the bundle in ${dir} is now version ${candidate.manifest.version}, not ${version}`);
        fitsCatalog(force)(candidate.itemIds);
      });
    } catch (err) {
      if (err instanceof AttuneError) throw err;
      throw new AttuneError('INVALID_MODEL', err instanceof Error ? err.message : String(err));
    }
  };
  const nodeView = () => ({ nodeModelVersion: deps.model.manifest.version, ...deps.modelFollower.status() });

  app.get('/v1/admin/models', { config: { access: 'admin' } }, async () => {
    const models = await deps.modelAdmin.list();
    return { live: models.find((m) => m.state === 'live')?.version ?? null, models, ...nodeView() };
  });

  app.get<{ Params: { version: string } }>('/v1/admin/models/:version', { schema: { params: versionParams }, config: { access: 'admin' } }, async (request) => deps.modelAdmin.get(request.params.version));

  app.post<{ Body: { dir: string; version?: string } }>('/v1/admin/models', { schema: { body: registerSchema }, config: { access: 'admin' } }, async (request, reply) => {
    const { dir, version } = request.body;
    const entry = await audited(request, { action: 'model.register', target: version ?? dir, detail: { dir } }, () => deps.modelAdmin.register(dir, version));
    request.log.info({ version: entry.version, dir: entry.dir }, 'model registered');
    return reply.status(201).send(entry);
  });

  app.post<{ Params: { version: string }; Body: { force?: boolean } }>(
    '/v1/admin/models/:version/promote',
    {
      schema: { params: versionParams, body: promoteSchema },
      config: { access: 'admin' },
      // A promote without a body (nothing to force) is the usual one.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const { version } = request.params;
      const force = request.body.force;
      const change = await audited(request, { action: 'model.promote', target: version }, async () => {
        const entry = await deps.modelAdmin.get(version);
        if (entry.state === 'live') throw new AttuneError('MODEL_STAGE', `model ${version} is live already`);
        await loadHere(entry.dir, version, force);
        try {
          return await deps.modelAdmin.promote(version);
        } finally {
          // Whatever the registry now says: back to it at once if the promote did not happen.
          await deps.modelFollower.sync();
        }
      }, changeDetail);
      request.log.info({ live: change.live.version, previous: change.previous?.version ?? null }, 'model promoted');
      return { ...change, ...nodeView() };
    },
  );

  app.post('/v1/admin/models/rollback', { config: { access: 'admin' } }, async (request) => {
    const change = await audited(
      request,
      { action: 'model.rollback', target: 'live' },
      async () => {
        const done = await deps.modelAdmin.rollback();
        await deps.modelFollower.sync();
        return done;
      },
      changeDetail,
    );
    request.log.info({ live: change.live.version, previous: change.previous?.version ?? null }, 'model rolled back');
    return { ...change, ...nodeView() };
  });

  app.post<{ Params: { version: string } }>('/v1/admin/models/:version/retire', { schema: { params: versionParams }, config: { access: 'admin' } }, async (request) => {
    const entry = await audited(request, { action: 'model.retire', target: request.params.version }, () => deps.modelAdmin.retire(request.params.version));
    return entry;
  });
}
