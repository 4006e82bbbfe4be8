import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { generateApiKey, ROLES } from '../../security/api-keys.js';
import type { Role } from '../../store/types.js';
import type { HttpDeps } from './deps.js';

const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'roles'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128 },
    roles: { type: 'array', minItems: 1, maxItems: ROLES.length, uniqueItems: true, items: { type: 'string', enum: ROLES } },
  },
} as const;
const keyParams = { type: 'object', additionalProperties: false, required: ['keyId'], properties: { keyId: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, before: { type: 'string', maxLength: 64, pattern: '^\\d+-\\d+$' } },
} as const;

/** API keys (the key itself is shown once, at creation) and the audit log of admin actions. */
export function adminKeyRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: { name: string; roles: Role[] } }>('/v1/admin/keys', { schema: { body: createKeyBody }, config: { access: 'admin' } }, async (request, reply) => {
    let generated;
    try {
      generated = generateApiKey(request.body.name, request.body.roles, deps.now());
    } catch (err) {
      if (err instanceof RangeError) throw new AttuneError('VALIDATION', err.message);
      throw err;
    }
    const { key, record } = generated;
    await deps.stores.apiKeys.create(record);
    await deps.audit(request, { action: 'key.create', target: record.id, outcome: 'ok', detail: { roles: record.roles.join(','), name: record.name } });
    // The same key signs AWS SDK requests (the Personalize-compatible API) with these.
    const aws = deps.awsCredentialsOf(record);
    return reply.status(201).send({ key, id: record.id, name: record.name, roles: record.roles, createdAt: record.createdAt, ...(aws === null ? {} : { awsAccessKeyId: aws.accessKeyId, awsSecretAccessKey: aws.secretAccessKey }) });
  });

  app.get('/v1/admin/keys', { config: { access: 'admin' } }, async () => ({
    keys: (await deps.stores.apiKeys.list()).map(({ id, name, roles, createdAt, revokedAt }) => ({ id, name, roles, createdAt, revokedAt })),
  }));

  app.delete<{ Params: { keyId: string } }>('/v1/admin/keys/:keyId', { schema: { params: keyParams }, config: { access: 'admin' } }, async (request) => {
    const { keyId } = request.params;
    const at = deps.now();
    const revoked = await deps.stores.apiKeys.revoke(keyId, at);
    if (!revoked) {
      await deps.audit(request, { action: 'key.revoke', target: keyId, outcome: 'failed' });
      throw new AttuneError('NOT_FOUND', `no active key ${keyId}`);
    }
    // Every node drops the key from its cache now rather than after --key-cache-ms.
    deps.authenticator.forget(keyId);
    await deps.stores.bus.publish({ type: 'key-revoked', keyId });
    await deps.audit(request, { action: 'key.revoke', target: keyId, outcome: 'ok' });
    return { id: keyId, revokedAt: at };
  });

  app.get<{ Querystring: { limit: number; before?: string } }>('/v1/admin/audit', { schema: { querystring: auditQuery }, config: { access: 'admin' } }, async (request) => {
    const { limit, before } = request.query;
    const entries = await deps.stores.audit.read({ limit, ...(before === undefined ? {} : { before }) });
    return { entries };
  });
}
