import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { demoInteractions } from '../demo/catalog.js';
import { BUNDLE_FILES, writeBundle } from './bundle.js';
import { hashInteractions, trainItemItem } from './trainer.js';

/**
 * The demo model: trained by the project's own trainer on the demo shoppers at first start, and
 * reused while the demo data is unchanged. Returns the bundle directory.
 */
export async function ensureDemoModel(dataDir: string, log: (message: string) => void): Promise<string> {
  const dir = join(dataDir, 'models', 'demo');
  const interactions = demoInteractions();
  const dataHash = hashInteractions(interactions);
  if ((await existingDataHash(dir)) === dataHash) return dir;
  log(`training the demo model on ${interactions.length} demo interactions into ${dir}`);
  const model = trainItemItem(interactions);
  const manifest = await writeBundle(dir, model);
  log(`demo model ${manifest.version} ready (${manifest.itemCount} items)`);
  return dir;
}

async function existingDataHash(dir: string): Promise<string | null> {
  try {
    const manifest: unknown = JSON.parse(await readFile(join(dir, BUNDLE_FILES.manifest), 'utf8'));
    const hash = typeof manifest === 'object' && manifest !== null ? (manifest as Record<string, unknown>).trainingDataHash : null;
    return typeof hash === 'string' ? hash : null;
  } catch {
    return null;
  }
}
