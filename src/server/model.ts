import type { AttuneConfig } from '../config.js';
import { demoCatalog } from '../demo/catalog.js';
import { CatalogIndex } from '../model/catalog.js';
import { ItemTrends } from '../model/item-trends.js';
import { ModelSlot } from '../model/model-slot.js';
import type { Stores } from '../store/types.js';
import { ensureDemoModel } from '../training/demo-model.js';

/** What a node scores with: the catalog's in-memory index, the model bundle and popular/trending counts. */
export interface ModelPart {
  catalog: CatalogIndex;
  model: ModelSlot;
  trends: ItemTrends;
}

/**
 * Loads the configured bundle, or on embedded defaults the demo model (trained once into the
 * data directory) beside the demo catalog's items.
 */
export async function loadModelPart(config: AttuneConfig, stores: Stores, log: (message: string) => void): Promise<ModelPart> {
  if (config.demoCatalog) await seedDemoCatalog(stores);
  const modelDir = config.modelDir ?? (await ensureDemoModel(config.dataDir, log));
  return {
    catalog: new CatalogIndex(),
    model: await ModelSlot.load(modelDir, config.scoring, config.reducer),
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
