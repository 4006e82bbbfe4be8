import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReducerConfig } from '../session/state.js';
import { BUNDLE_FILES, BUNDLE_FORMAT, OPTIONAL_BUNDLE_FILES, type PopularityEntry } from '../model/bundle.js';
import type { ManifestLineage } from '../model/lineage.js';
import { MODEL_CONTRACT, type ModelManifest } from '../model/types.js';
import { ITEM_ITEM_ALGORITHM, ITEM_ITEM_EMBEDDING_ALGORITHM, compareIds, type ItemItemModel, type ItemItemParams } from '../model/item-item.js';
import { buildItemItemOnnx } from './onnx-graph.js';

/** Slots per row when the caller does not say; the scorer pads or cuts every history to this. */
export const DEFAULT_HISTORY_LENGTH = 20;

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
  /** Where the training data came from and which version this one follows (the model registry copies it). */
  lineage?: ManifestLineage;
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
    ...(meta.lineage === undefined ? {} : { lineage: meta.lineage }),
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
