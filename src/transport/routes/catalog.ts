import type { FastifyInstance } from 'fastify';
import type { CatalogItemUpdate } from '../../store/types.js';
import { listItemsQuerySchema, putItemsSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

export function catalogRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.put<{ Body: { items: CatalogItemUpdate[] } }>('/v1/items', { schema: { body: putItemsSchema }, config: { access: 'ingest' } }, async (request) => {
    const stored = await deps.catalogStore.upsert(request.body.items);
    const stockChanged = deps.catalog.apply(stored);
    if (stockChanged.length > 0) deps.host.onStockChanged(stockChanged);
    return { items: stored };
  });

  app.get<{ Querystring: { limit: number; offset: number } }>('/v1/items', { schema: { querystring: listItemsQuerySchema }, config: { access: 'recommend' } }, async (request) => {
    const { limit, offset } = request.query;
    const all = deps.catalog.all();
    return { items: all.slice(offset, offset + limit), total: all.length };
  });
}
