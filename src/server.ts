import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { ActorHost } from './actors/actor-host.js';
import type { AttuneConfig } from './config.js';
import { demoCatalog } from './demo/catalog.js';
import { CatalogIndex } from './model/catalog.js';
import { ensureDemoModel } from './model/demo-model.js';
import { ItemTrends } from './model/item-trends.js';
import { ModelSlot } from './model/model-slot.js';
import { Segmenter } from './model/segmenter.js';
import { eventWeight } from './actors/state.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { createMemoryStores } from './store/memory.js';
import type { Stores } from './store/types.js';
import { createHttpApp } from './transport/http.js';
import { createSocketServer, type AttuneSocketServer } from './transport/socket.js';

export interface RunningServer {
  url: string;
  port: number;
  app: FastifyInstance;
  io: AttuneSocketServer;
  host: ActorHost;
  stores: Stores;
  catalog: CatalogIndex;
  metrics: Metrics;
  model: ModelSlot;
  close(): Promise<void>;
}

/** The web/ folder, both from src/ (tests) and from dist/src/ (built). */
function findWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'src')}`) ? join(here, '..', '..', 'web') : join(here, '..', 'web');
}

/** Wires stores, model, actors, HTTP and sockets of one node, and starts listening. */
export async function startServer(config: AttuneConfig, options: { stores?: Stores } = {}): Promise<RunningServer> {
  const stores = options.stores ?? createMemoryStores();
  const metrics = createMetrics();
  if (config.demoCatalog) await stores.catalog.upsert(demoCatalog());
  const catalog = new CatalogIndex(await stores.catalog.list());

  const log = (message: string): void => {
    if (config.logLevel !== 'silent' && config.logLevel !== 'error' && config.logLevel !== 'warn') console.log(`attune: ${message}`);
  };
  const modelDir = config.modelDir ?? (await ensureDemoModel(config.dataDir, log));
  const model = await ModelSlot.load(modelDir, config.scoring, config.reducer);

  const trends = new ItemTrends(config.trends.popularHalfLifeMs, config.trends.trendingHalfLifeMs);
  let reportError: (err: unknown, context: string) => void = (err, context) => console.error(`attune: ${context}:`, err);
  let io: AttuneSocketServer | null = null;
  const host = new ActorHost({
    config,
    stores,
    catalog,
    model: () => model.get(),
    metrics,
    publish: (room, push) => io?.to(room).emit('recommendations', push),
    onError: (err, context) => reportError(err, context),
    onAccepted: (entry, reducer) => trends.record(entry, eventWeight(entry.eventType, reducer)),
  });
  const segmenter = new Segmenter({
    userKeys: () => stores.log.keys('u:'),
    stateOf: (key) => host.currentState(key),
    catalog,
    segmentCount: config.segments.count,
    refreshMs: config.segments.refreshMs,
  });

  const app = createHttpApp({ config, host, catalog, catalogStore: stores.catalog, model, trends, segmenter, metrics, webDir: findWebDir(), now: Date.now });
  reportError = (err, context) => app.log.error({ err }, context);
  io = createSocketServer(app.server, { host, metrics, onError: (err, context) => reportError(err, context) });

  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`;
  log(`serving ${catalog.size} items with model ${model.manifest.version} on ${url}`);

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    app,
    io,
    host,
    stores,
    catalog,
    metrics,
    model,
    close: () =>
      (closing ??= (async () => {
        io?.close();
        await app.close();
        await host.stop();
        await model.close();
        await stores.close();
      })()),
  };
}
