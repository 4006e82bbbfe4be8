import type { AttuneConfig } from '../config.js';
import { demoCatalog } from '../demo/catalog.js';
import { CatalogIndex } from '../model/catalog.js';
import { ItemTrends } from '../model/item-trends.js';
import { ModelArms, type ArmsMetrics } from '../model/model-arms.js';
import { ModelSlot } from '../model/model-slot.js';
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
