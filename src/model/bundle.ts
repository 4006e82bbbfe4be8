import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lineageProblem } from './lineage.js';
import { MODEL_CONTRACT, type ModelManifest } from './types.js';

export const BUNDLE_FORMAT = 'attune-bundle/1';
export const BUNDLE_FILES = {
  model: 'model.onnx',
  items: 'items.json',
  popularity: 'popularity.json',
  manifest: 'manifest.json',
} as const;

/** Written only when the training data named item categories (`attune train --items`): {itemId: category}. */
export const OPTIONAL_BUNDLE_FILES = { categories: 'categories.json' } as const;

export interface PopularityEntry {
  itemId: string;
  count: number;
}

export interface Bundle {
  dir: string;
  manifest: ModelManifest;
  /** Vocabulary: index -> external item id. */
  items: string[];
  /** Descending by count, then itemId. */
  popularity: PopularityEntry[];
  modelPath: string;
  onnxBytes: Uint8Array;
}

/** A bundle directory that cannot be served: a file missing or unreadable, or contents that fail validation. */
export class BundleError extends Error {
  override name = 'BundleError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readBundleFile(dir: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, name));
  } catch (error) {
    const code = isRecord(error) ? error.code : undefined;
    const why = code === 'ENOENT' ? 'is missing' : `cannot be read (${String(code ?? error)})`;
    throw new BundleError(`bundle ${dir}: ${name} ${why}`, { cause: error });
  }
}

async function readJson(dir: string, name: string): Promise<unknown> {
  const text = (await readBundleFile(dir, name)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BundleError(`bundle ${dir}: ${name} is not valid JSON (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

function parseManifest(dir: string, raw: unknown): ModelManifest {
  const fail = (why: string): never => {
    throw new BundleError(`bundle ${dir}: ${BUNDLE_FILES.manifest} ${why}`);
  };
  if (!isRecord(raw)) return fail('is not a JSON object');
  if (raw.format !== BUNDLE_FORMAT) fail(`has format ${JSON.stringify(raw.format)}, expected "${BUNDLE_FORMAT}"`);
  for (const field of ['version', 'createdAt', 'algorithm', 'trainingDataHash'] as const) {
    if (typeof raw[field] !== 'string') fail(`field ${field} must be a string`);
  }
  for (const field of ['trainingSeconds', 'interactions', 'users'] as const) {
    if (typeof raw[field] !== 'number') fail(`field ${field} must be a number`);
  }
  for (const field of ['itemCount', 'historyLength'] as const) {
    const value = raw[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) fail(`field ${field} must be a positive integer`);
  }
  if (!isRecord(raw.parameters)) fail('field parameters must be an object');
  if (!isRecord(raw.metrics)) fail('field metrics must be an object');
  // A bundle is only servable if its model speaks this server's input/output names.
  if (JSON.stringify(raw.contract) !== JSON.stringify(MODEL_CONTRACT)) {
    fail(`field contract does not match ${JSON.stringify(MODEL_CONTRACT)}`);
  }
  if (raw.reducer !== undefined) checkReducerOverrides(raw.reducer, fail);
  const lineage = lineageProblem(raw.lineage);
  if (lineage !== null) fail(`field lineage: ${lineage}`);
  // Every field checked above; the cast only restores the literal types.
  return raw as unknown as ModelManifest;
}

const NUMERIC_REDUCER_FIELDS = ['halfLifeMs', 'positionDecay', 'recentMax', 'itemWeightsMax', 'categoriesMax', 'purchasedMax', 'impressionsMax', 'defaultEventWeight'];

function checkReducerOverrides(raw: unknown, fail: (why: string) => never): void {
  if (!isRecord(raw)) fail('field reducer must be an object');
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (NUMERIC_REDUCER_FIELDS.includes(key)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`field reducer.${key} must be a non-negative number`);
    } else if (key === 'eventWeights') {
      if (!isRecord(value) || !Object.values(value).every((w) => typeof w === 'number' && Number.isFinite(w))) {
        fail('field reducer.eventWeights must map event types to numbers');
      }
    } else if (key === 'purchaseEventType') {
      if (typeof value !== 'string') fail('field reducer.purchaseEventType must be a string');
    } else {
      fail(`field reducer has unknown setting ${key}`);
    }
  }
}

function parseItems(dir: string, raw: unknown, itemCount: number): string[] {
  const name = BUNDLE_FILES.items;
  if (!Array.isArray(raw) || !raw.every((id): id is string => typeof id === 'string')) {
    throw new BundleError(`bundle ${dir}: ${name} must be an array of strings`);
  }
  if (raw.length !== itemCount) {
    throw new BundleError(`bundle ${dir}: ${name} has ${raw.length} items but manifest.json says itemCount ${itemCount}`);
  }
  if (new Set(raw).size !== raw.length) throw new BundleError(`bundle ${dir}: ${name} has duplicate item ids`);
  return raw;
}

function parsePopularity(dir: string, raw: unknown, items: readonly string[]): PopularityEntry[] {
  const name = BUNDLE_FILES.popularity;
  if (!Array.isArray(raw)) throw new BundleError(`bundle ${dir}: ${name} must be an array`);
  const known = new Set(items);
  return raw.map((entry, i) => {
    if (!isRecord(entry) || typeof entry.itemId !== 'string' || typeof entry.count !== 'number') {
      throw new BundleError(`bundle ${dir}: ${name}[${i}] must be {itemId: string, count: number}`);
    }
    if (!known.has(entry.itemId)) throw new BundleError(`bundle ${dir}: ${name}[${i}] names unknown item ${entry.itemId}`);
    return { itemId: entry.itemId, count: entry.count };
  });
}

/** Reads and validates a bundle directory; every error names the file at fault. */
export async function readBundle(dir: string): Promise<Bundle> {
  const manifest = parseManifest(dir, await readJson(dir, BUNDLE_FILES.manifest));
  const items = parseItems(dir, await readJson(dir, BUNDLE_FILES.items), manifest.itemCount);
  const popularity = parsePopularity(dir, await readJson(dir, BUNDLE_FILES.popularity), items);
  const modelPath = join(dir, BUNDLE_FILES.model);
  const onnxBytes = new Uint8Array(await readBundleFile(dir, BUNDLE_FILES.model));
  if (onnxBytes.byteLength === 0) throw new BundleError(`bundle ${dir}: ${BUNDLE_FILES.model} is empty`);
  return { dir, manifest, items, popularity, modelPath, onnxBytes };
}
