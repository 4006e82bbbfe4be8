import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { demoInteractions } from '../../src/demo/catalog.js';
import type { ModelManifest } from '../../src/model/types.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';

/**
 * A real bundle over the demo catalog's items, in a fresh directory removed when the test ends;
 * each `window` gives another model (another version).
 */
export async function demoBundle(t: Test, window: number, metrics: Record<string, number> = { 'validation.hr@20': 0.25 }): Promise<{ dir: string; manifest: ModelManifest }> {
  const dir = await mkdtemp(join(tmpdir(), `attune-bundle-w${window}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const manifest = await writeBundle(dir, trainItemItem(demoInteractions(), { neighbours: 8, window }), {
    metrics,
    lineage: { source: 'demo', firstEventId: null, lastEventId: null, rows: demoInteractions().length, parentVersion: null },
  });
  return { dir, manifest };
}

/** A bundle whose files read and validate but whose model.onnx is no ONNX model: it fails to load. */
export async function unloadableBundle(t: Test): Promise<{ dir: string; manifest: ModelManifest }> {
  const bundle = await demoBundle(t, 6);
  await writeFile(join(bundle.dir, 'model.onnx'), 'these bytes are not an ONNX model');
  return bundle;
}
