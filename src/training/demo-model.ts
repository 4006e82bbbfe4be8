import { randomUUID } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { demoInteractions } from '../demo/catalog.js';
import { BUNDLE_FILES } from '../model/bundle.js';
import { writeBundle } from './bundle-writer.js';
import { trainItemItem } from './trainer.js';

/**
 * The demo model, trained by the project's own trainer on the demo shoppers at every start
 * (tens of milliseconds), in a directory named by its version. A changed trainer or demo data
 * gets a new directory, so a stale bundle is never served, and nodes starting together on one
 * data directory never replace a bundle another one is loading: the first rename wins and the
 * others, holding the same bytes, discard theirs. Returns the bundle directory.
 */
export async function ensureDemoModel(dataDir: string, log: (message: string) => void): Promise<string> {
  const models = join(dataDir, 'models');
  const interactions = demoInteractions();
  const model = trainItemItem(interactions);
  const staging = join(models, `demo.staging-${randomUUID()}`);
  const manifest = await writeBundle(staging, model);
  const dir = join(models, `demo-${manifest.version}`);
  if ((await existingVersion(dir)) === manifest.version) {
    await rm(staging, { recursive: true, force: true });
    return dir;
  }
  try {
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    if ((await existingVersion(dir)) !== manifest.version) throw err;
    return dir;
  }
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
