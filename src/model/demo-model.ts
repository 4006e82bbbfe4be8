import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { demoInteractions } from '../demo/catalog.js';
import { BUNDLE_FILES, writeBundle } from './bundle.js';
import { trainItemItem } from './trainer.js';

/**
 * The demo model, trained by the project's own trainer on the demo shoppers at every start
 * (tens of milliseconds). The bundle directory is replaced only when the model differs, so a
 * changed trainer or demo data never serves a stale bundle. Returns the bundle directory.
 */
export async function ensureDemoModel(dataDir: string, log: (message: string) => void): Promise<string> {
  const dir = join(dataDir, 'models', 'demo');
  const interactions = demoInteractions();
  const model = trainItemItem(interactions);
  const staging = `${dir}.staging-${process.pid}`;
  const manifest = await writeBundle(staging, model);
  if ((await existingVersion(dir)) === manifest.version) {
    await rm(staging, { recursive: true, force: true });
    return dir;
  }
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  log(`trained demo model ${manifest.version} on ${interactions.length} demo interactions (${manifest.itemCount} items) into ${dir}`);
  return dir;
}

async function existingVersion(dir: string): Promise<string | null> {
  try {
    const manifest: unknown = JSON.parse(await readFile(join(dir, BUNDLE_FILES.manifest), 'utf8'));
    const version = typeof manifest === 'object' && manifest !== null ? (manifest as Record<string, unknown>).version : null;
    return typeof version === 'string' ? version : null;
  } catch {
    return null;
  }
}
