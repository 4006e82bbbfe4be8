import type { ModelLineage } from '../store/types.js';
import type { ModelManifest } from './types.js';

/**
 * What training records in the manifest beyond its data hash, parameters and metrics: where the
 * data came from and which model the new one follows. Bundles written before lineage existed
 * (or by other tools) have none; their registry lineage falls back to the manifest's fields.
 */
export interface ManifestLineage {
  /** `event log`, or the dataset file's name. */
  source: string;
  /** The training window in the event log (first and last event id read); null for a dataset file. */
  firstEventId: string | null;
  lastEventId: string | null;
  /** Interactions (a file's rows, the log's interaction entries) read for training. */
  rows: number;
  /** `attune train --parent`: the version this one was trained to replace; null for none. */
  parentVersion: string | null;
}

/** The registry's lineage of a bundle: the manifest's lineage with its data hash, time and parameters. */
export function lineageOf(manifest: ModelManifest): ModelLineage {
  const recorded = manifest.lineage;
  return {
    dataHash: manifest.trainingDataHash,
    parentVersion: recorded?.parentVersion ?? null,
    source: recorded?.source ?? null,
    firstEventId: recorded?.firstEventId ?? null,
    lastEventId: recorded?.lastEventId ?? null,
    rows: recorded?.rows ?? manifest.interactions,
    trainedAt: manifest.createdAt,
    parameters: { ...manifest.parameters },
  };
}

/** Why a manifest's `lineage` field is malformed; null when it is absent or well formed. */
export function lineageProblem(raw: unknown): string | null {
  if (raw === undefined) return null;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'must be an object';
  const r = raw as Record<string, unknown>;
  if (typeof r.source !== 'string') return 'source must be a string';
  for (const field of ['firstEventId', 'lastEventId', 'parentVersion'] as const) {
    if (r[field] !== null && typeof r[field] !== 'string') return `${field} must be a string or null`;
  }
  if (typeof r.rows !== 'number' || !Number.isInteger(r.rows) || r.rows < 0) return 'rows must be a non-negative integer';
  return null;
}
