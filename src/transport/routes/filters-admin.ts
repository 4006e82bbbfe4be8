import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { FILTER_NAME, filterArn } from '../../personalize/arns.js';
import { FilterExpressionError, parseFilterExpression } from '../../personalize/filter-expression.js';
import type { StoredFilter } from '../../store/types.js';
import type { HttpDeps } from './deps.js';

const createFilterSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'filterExpression'],
  properties: { name: { type: 'string', pattern: FILTER_NAME, maxLength: 63 }, filterExpression: { type: 'string', minLength: 1, maxLength: 2500 } },
} as const;
const nameParams = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', pattern: FILTER_NAME, maxLength: 63 } } } as const;

function view(filter: StoredFilter) {
  return { filterArn: filterArn(filter.name), name: filter.name, filterExpression: filter.filterExpression, parameters: parseFilterExpression(filter.filterExpression).parameters, createdAt: filter.createdAt };
}

/**
 * Filters in Amazon Personalize's expression syntax, referenced by ARN from the
 * Personalize-compatible API (`filterArn`, promotions). Checked when created.
 */
export function filterAdminRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.post<{ Body: { name: string; filterExpression: string } }>('/v1/admin/filters', { schema: { body: createFilterSchema }, config: { access: 'admin' } }, async (request, reply) => {
    const { name, filterExpression } = request.body;
    try {
      parseFilterExpression(filterExpression);
    } catch (err) {
      if (err instanceof FilterExpressionError) throw new AttuneError('VALIDATION', `filterExpression: ${err.message}`);
      throw err;
    }
    if ((await deps.stores.filters.get(name)) !== null) throw new AttuneError('VALIDATION', `a filter named ${name} exists`);
    const filter: StoredFilter = { name, filterExpression, createdAt: deps.now() };
    try {
      await deps.stores.filters.create(filter);
    } catch (err) {
      // Another request created it between the check and here.
      if ((await deps.stores.filters.get(name)) !== null) throw new AttuneError('VALIDATION', `a filter named ${name} exists`);
      throw err;
    }
    await deps.audit(request, { action: 'filter.create', target: name, outcome: 'ok' });
    return reply.status(201).send(view(filter));
  });

  app.get('/v1/admin/filters', { config: { access: 'admin' } }, async () => ({ filters: (await deps.stores.filters.list()).map(view) }));

  app.delete<{ Params: { name: string } }>('/v1/admin/filters/:name', { schema: { params: nameParams }, config: { access: 'admin' } }, async (request) => {
    if (!(await deps.stores.filters.delete(request.params.name))) throw new AttuneError('NOT_FOUND', `no filter ${request.params.name}`);
    await deps.audit(request, { action: 'filter.delete', target: request.params.name, outcome: 'ok' });
    return { deleted: filterArn(request.params.name) };
  });
}
