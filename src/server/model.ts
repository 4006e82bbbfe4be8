import type { Logger } from 'pino';
import type { AttuneConfig } from '../config.js';
import { demoCatalog } from '../demo/catalog.js';
import { CatalogIndex } from '../model/catalog.js';
import { ItemTrends } from '../model/item-trends.js';
import { ModelArms, type ArmsMetrics } from '../model/model-arms.js';
import { ModelSlot } from '../model/model-slot.js';
import { recordServedModel, type Metrics } from '../ops/metrics.js';
import { ModelAdmin } from '../ops/model-admin.js';
import { ModelFollower } from '../ops/model-follower.js';
import { CandidateFollower } from '../ops/candidate-follower.js';
import type { Stores } from '../store/types.js';
import { ensureDemoModel } from '../training/demo-model.js';

/**
 * What a node scores with: the catalog's in-memory index, the live model bundle, the models by
 * experiment arm (the live one and a candidate) and popular/trending counts.
 */
export interface ModelPart {
  catalog: CatalogIndex;
  model: ModelSlot;
  arms: ModelArms;
  trends: ItemTrends;
}

/**
 * Loads the configured bundle, or on embedded defaults the demo model (trained once into the
 * data directory) beside the demo catalog's items; with --experiment and --candidate-model, the
 * candidate too. A candidate that fails to load is reported (`log`, metrics, /readyz), not fatal:
 * everyone gets the live model.
 */
export async function loadModelPart(config: AttuneConfig, stores: Stores, metrics: ArmsMetrics, log: (message: string) => void): Promise<ModelPart> {
  if (config.demoCatalog) await seedDemoCatalog(stores);
  const modelDir = config.modelDir ?? (await ensureDemoModel(config.dataDir, log));
  const model = await ModelSlot.load(modelDir, config.scoring, config.reducer);
  const arms = new ModelArms(model, config.experiment?.candidateShare ?? null, config.scoring, config.reducer, metrics);
  if (config.experiment !== null && config.candidateModelDir !== null) {
    await arms.setCandidate(config.candidateModelDir).catch(() => log(`experiment: ${arms.candidateProblem ?? 'the candidate failed to load'}; everyone gets the live model`));
  }
  return {
    catalog: new CatalogIndex(),
    model,
    arms,
    trends: new ItemTrends(config.trends.popularHalfLifeMs, config.trends.trendingHalfLifeMs),
  };
}

/** Adds the demo items the catalog lacks; items already there (maybe updated since) stay as they are. */
async function seedDemoCatalog(stores: Stores): Promise<void> {
  const demo = demoCatalog();
  const present = new Set((await stores.catalog.get(demo.map((item) => item.itemId))).map((item) => item.itemId));
  const missing = demo.filter((item) => !present.has(item.itemId));
  if (missing.length > 0) await stores.catalog.upsert(missing);
}

/** The registry side of a node's model: admin operations, and the follower that keeps the slot on the live version. */
export interface RegistryPart {
  admin: ModelAdmin;
  follower: ModelFollower;
}

/**
 * Follows the registry's live version with `model` (bootstrapping an empty registry with the
 * bundle the node started with); resolves once the node serves the live version or has said why
 * it cannot. Swaps and load failures are counted and logged.
 */
export async function followModelRegistry(
  config: AttuneConfig,
  stores: Stores,
  model: ModelSlot,
  metrics: Metrics,
  logger: Logger | null,
  onError: (err: unknown, context: string) => void,
): Promise<RegistryPart> {
  const admin = new ModelAdmin({ models: stores.models, bus: stores.bus, now: Date.now, onAnnounceFailed: (err) => onError(err, 'model registry: announce a change (nodes see it at their next poll)') });
  const follower = new ModelFollower({
    registry: stores.models,
    bus: stores.bus,
    slot: model,
    pollMs: config.modelPollMs,
    now: Date.now,
    onSwapped: ({ previous, current, entry }) => {
      metrics.modelSwaps.inc();
      recordServedModel(metrics, current);
      logger?.info({ previous: previous.version, current: current.version, dir: entry.dir }, 'model swapped to the registry\'s live version');
    },
    onInStep: () => metrics.modelBehindRegistry.set(0),
    onLoadFailed: (entry, err) => {
      metrics.modelLoadFailures.inc();
      metrics.modelBehindRegistry.set(1);
      logger?.error({ err, wanted: entry.version, dir: entry.dir, serving: model.manifest.version }, `the registry's live model ${entry.version} did not load: still serving ${model.manifest.version}`);
    },
    onBootstrapped: (entry) => logger?.info({ version: entry.version, dir: entry.dir }, 'the model registry was empty: this node\'s model is now its live version'),
    onError,
  });
  await follower.start();
  return { admin, follower };
}

/**
 * During an experiment with no --candidate-model, the candidate arm follows the registry's newest
 * candidate; null otherwise. Changes and load failures are logged (the failures also counted by
 * the arms).
 */
export async function followCandidates(
  config: AttuneConfig,
  stores: Stores,
  arms: ModelArms,
  logger: Logger | null,
  onError: (err: unknown, context: string) => void,
): Promise<CandidateFollower | null> {
  if (config.experiment === null || config.candidateModelDir !== null) return null;
  const follower = new CandidateFollower({
    registry: stores.models,
    bus: stores.bus,
    arm: arms,
    pollMs: config.modelPollMs,
    now: Date.now,
    onChanged: (version) =>
      logger?.info({ candidate: version, share: config.experiment?.candidateShare }, version === null ? 'experiment ended: no candidate in the registry, everyone gets the live model' : `experiment: the candidate ${version} serves its share`),
    onLoadFailed: (entry, err) => logger?.error({ err, candidate: entry.version, dir: entry.dir }, `the registry's candidate ${entry.version} did not load: everyone gets the live model`),
    onError,
  });
  await follower.start();
  return follower;
}
