import type { ReducerConfig } from '../session/state.js';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_CONTRACT, type ModelManifest } from './types.js';
import { ITEM_ITEM_ALGORITHM, ITEM_ITEM_EMBEDDING_ALGORITHM, compareIds, type ItemItemModel, type ItemItemParams } from './item-item.js';
import { buildItemItemOnnx } from '../training/onnx-graph.js';

export const BUNDLE_FORMAT = 'attune-bundle/1';
export const BUNDLE_FILES = {
  model: 'model.onnx',
  items: 'items.json',
  popularity: 'popularity.json',
  manifest: 'manifest.json',
} as const;

/** Written only when the training data named item categories (`attune train --items`): {itemId: category}. */
export const OPTIONAL_BUNDLE_FILES = { categories: 'categories.json' } as const;

/** Slots per row when the caller does not say; the scorer pads or cuts every history to this. */
export const DEFAULT_HISTORY_LENGTH = 20;

export interface PopularityEntry {
  itemId: string;
  count: number;
}

export interface BundleMeta {
  /** L of the manifest (default DEFAULT_HISTORY_LENGTH). */
  historyLength?: number;
  /** Offline evaluation results to record (e.g. recall@20). */
  metrics?: Record<string, number>;
  createdAt?: Date;
  producerVersion?: string;
  /** Reducer settings the model was trained and evaluated with (see ModelManifest.reducer). */
  reducer?: Partial<ReducerConfig>;
  /** More entries for the manifest's parameters (e.g. how they were tuned). */
  parameters?: Record<string, number | string>;
  /** Item categories to write to categories.json (see OPTIONAL_BUNDLE_FILES). */
  categories?: ReadonlyMap<string, string>;
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

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function popularityOf(items: readonly string[], counts: ArrayLike<number>): PopularityEntry[] {
  return items
    .map((itemId, i) => ({ itemId, count: counts[i] }))
    .sort((a, b) => b.count - a.count || compareIds(a.itemId, b.itemId));
}

/** The manifest's parameters are flat; event weights become `eventWeight.<type>` entries. */
function flattenParams(params: ItemItemParams): Record<string, number | string> {
  const { eventWeights, ...scalars } = params;
  const flat: Record<string, number | string> = { ...scalars };
  for (const type of Object.keys(eventWeights).sort(compareIds)) flat[`eventWeight.${type}`] = eventWeights[type];
  return flat;
}

/**
 * Writes a bundle directory and returns its manifest. manifest.json is written last, so a
 * directory whose writing was interrupted fails readBundle instead of half-loading.
 */
export async function writeBundle(dir: string, model: ItemItemModel, meta: BundleMeta = {}): Promise<ModelManifest> {
  const historyLength = meta.historyLength ?? DEFAULT_HISTORY_LENGTH;
  if (!Number.isInteger(historyLength) || historyLength < 1) {
    throw new Error(`writeBundle: historyLength must be a positive integer, got ${historyLength}`);
  }
  const onnxBytes = buildItemItemOnnx({
    itemCount: model.itemCount,
    neighbours: model.neighbours,
    nbrIdx: model.nbrIdx,
    nbrW: model.nbrW,
    prior: model.prior,
    ...(model.longTerm ? { longTerm: model.longTerm } : {}),
    ...(model.embedding ? { embedding: model.embedding } : {}),
    producerName: 'attune',
    producerVersion: meta.producerVersion ?? '0',
  });
  const algorithm = model.embedding ? ITEM_ITEM_EMBEDDING_ALGORITHM : ITEM_ITEM_ALGORITHM;
  const parameters = flattenParams(model.params);
  for (const [name, value] of Object.entries(model.longTermParams ?? {})) parameters[`longTerm.${name}`] = value;
  for (const [name, value] of Object.entries(model.embeddingParams ?? {})) parameters[`embedding.${name}`] = value;
  Object.assign(parameters, meta.parameters);
  const manifest: ModelManifest = {
    format: BUNDLE_FORMAT,
    version: `${algorithm}-${sha256Hex(onnxBytes).slice(0, 12)}`,
    createdAt: (meta.createdAt ?? new Date()).toISOString(),
    algorithm,
    parameters,
    trainingDataHash: model.stats.trainingDataHash,
    trainingSeconds: model.stats.trainingSeconds,
    itemCount: model.itemCount,
    historyLength,
    interactions: model.stats.interactions,
    users: model.stats.users,
    metrics: meta.metrics ?? {},
    contract: MODEL_CONTRACT,
    ...(meta.reducer === undefined ? {} : { reducer: meta.reducer }),
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, BUNDLE_FILES.model), onnxBytes);
  await writeFile(join(dir, BUNDLE_FILES.items), JSON.stringify(model.items));
  await writeFile(join(dir, BUNDLE_FILES.popularity), JSON.stringify(popularityOf(model.items, model.counts)));
  if (meta.categories !== undefined && meta.categories.size > 0) {
    const categories = Object.fromEntries([...meta.categories].sort(([a], [b]) => compareIds(a, b)));
    await writeFile(join(dir, OPTIONAL_BUNDLE_FILES.categories), JSON.stringify(categories));
  }
  await writeFile(join(dir, BUNDLE_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
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
    throw new Error(`bundle ${dir}: ${name} ${why}`, { cause: error });
  }
}

async function readJson(dir: string, name: string): Promise<unknown> {
  const text = (await readBundleFile(dir, name)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`bundle ${dir}: ${name} is not valid JSON (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

function parseManifest(dir: string, raw: unknown): ModelManifest {
  const fail = (why: string): never => {
    throw new Error(`bundle ${dir}: ${BUNDLE_FILES.manifest} ${why}`);
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
    throw new Error(`bundle ${dir}: ${name} must be an array of strings`);
  }
  if (raw.length !== itemCount) {
    throw new Error(`bundle ${dir}: ${name} has ${raw.length} items but manifest.json says itemCount ${itemCount}`);
  }
  if (new Set(raw).size !== raw.length) throw new Error(`bundle ${dir}: ${name} has duplicate item ids`);
  return raw;
}

function parsePopularity(dir: string, raw: unknown, items: readonly string[]): PopularityEntry[] {
  const name = BUNDLE_FILES.popularity;
  if (!Array.isArray(raw)) throw new Error(`bundle ${dir}: ${name} must be an array`);
  const known = new Set(items);
  return raw.map((entry, i) => {
    if (!isRecord(entry) || typeof entry.itemId !== 'string' || typeof entry.count !== 'number') {
      throw new Error(`bundle ${dir}: ${name}[${i}] must be {itemId: string, count: number}`);
    }
    if (!known.has(entry.itemId)) throw new Error(`bundle ${dir}: ${name}[${i}] names unknown item ${entry.itemId}`);
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
  if (onnxBytes.byteLength === 0) throw new Error(`bundle ${dir}: ${BUNDLE_FILES.model} is empty`);
  return { dir, manifest, items, popularity, modelPath, onnxBytes };
}
