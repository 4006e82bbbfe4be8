import { resolve } from 'node:path';
import { AttuneError } from '../errors.js';
import { BundleError, readBundle } from '../model/bundle.js';
import { lineageOf } from '../model/lineage.js';
import type { ModelManifest } from '../model/types.js';
import type { LiveChange, ModelEntry, ModelRegistry, NewModelEntry, NodeBus } from '../store/types.js';

/** Refuses (throws an AttuneError) a bundle whose items would not serve this deployment's catalog. */
export type CatalogFit = (itemIds: readonly string[]) => void | Promise<void>;

export interface ModelAdminDeps {
  models: ModelRegistry;
  bus: NodeBus;
  now: () => number;
  /** The change was made but the nodes could not be told at once: they see it at their next poll. */
  onAnnounceFailed?: (err: unknown) => void;
}

/** The registry entry of a bundle as its manifest describes it. */
export function registryEntryOf(dir: string, manifest: ModelManifest, registeredAt: number): NewModelEntry {
  return { version: manifest.version, dir: resolve(dir), registeredAt, lineage: lineageOf(manifest), metrics: { ...manifest.metrics } };
}

/**
 * What an admin does to the model registry (HTTP routes and `attune models`): each change is made
 * in the registry, then announced on the node bus so every node's follower reacts at once.
 * Auditing is the caller's: it knows who acted.
 */
export class ModelAdmin {
  constructor(private readonly deps: ModelAdminDeps) {}

  list(): Promise<ModelEntry[]> {
    return this.deps.models.list();
  }

  async get(version: string): Promise<ModelEntry> {
    const entry = await this.deps.models.get(version);
    if (entry === null) throw new AttuneError('MODEL_NOT_FOUND', `no model ${version} in the registry`);
    return entry;
  }

  /**
   * Registers the bundle in `dir` (resolved to an absolute path: every node must read it there)
   * as a candidate. `version`, when given, must be the one its manifest names: the version is
   * what every push of the model carries.
   */
  async register(dir: string, version?: string): Promise<ModelEntry> {
    const manifest = await manifestOf(dir);
    if (version !== undefined && version !== manifest.version) {
      throw new AttuneError('VALIDATION', `the bundle in ${dir} is version ${manifest.version}, not ${version} (a model's version is the one its manifest names)`);
    }
    const entry = await this.deps.models.register(registryEntryOf(dir, manifest, this.deps.now()));
    await this.announce();
    return entry;
  }

  /** Makes the version live everywhere; `fits` may refuse its bundle first (read from the entry's dir). */
  async promote(version: string, fits?: CatalogFit): Promise<LiveChange> {
    const entry = await this.get(version);
    if (fits !== undefined) await fits((await bundleOf(entry.dir)).items);
    const change = await this.deps.models.promote(version, this.deps.now());
    await this.announce();
    return change;
  }

  async rollback(): Promise<LiveChange> {
    const change = await this.deps.models.rollback(this.deps.now());
    await this.announce();
    return change;
  }

  async retire(version: string): Promise<ModelEntry> {
    const entry = await this.deps.models.retire(version, this.deps.now());
    await this.announce();
    return entry;
  }

  /**
   * Registers the bundle in `dir` unless its version is registered already, and makes it live
   * unless it is: what `POST /v1/admin/model` does, now for every node. `changed` is false when
   * it was live already.
   */
  async swapTo(dir: string, fits?: CatalogFit): Promise<{ entry: ModelEntry; previous: ModelEntry | null; registered: boolean; changed: boolean }> {
    const bundle = await bundleOf(dir);
    if (fits !== undefined) await fits(bundle.items);
    return this.makeLive(dir, bundle.manifest);
  }

  /** As swapTo, for a bundle already loaded and checked (its manifest as loaded). */
  async makeLive(dir: string, manifest: ModelManifest): Promise<{ entry: ModelEntry; previous: ModelEntry | null; registered: boolean; changed: boolean }> {
    let registered = false;
    try {
      await this.deps.models.register(registryEntryOf(dir, manifest, this.deps.now()));
      registered = true;
    } catch (err) {
      if (!(err instanceof AttuneError) || err.code !== 'ATTUNE_ERR_MODEL_EXISTS') throw err;
    }
    const current = await this.get(manifest.version);
    if (current.state === 'live') {
      if (registered) await this.announce();
      return { entry: current, previous: null, registered, changed: false };
    }
    const change = await this.deps.models.promote(current.version, this.deps.now());
    await this.announce();
    return { entry: change.live, previous: change.previous, registered, changed: true };
  }

  private async announce(): Promise<void> {
    try {
      const live = await this.deps.models.live();
      await this.deps.bus.publish({ type: 'models-changed', live: live?.version ?? null });
    } catch (err) {
      this.deps.onAnnounceFailed?.(err);
    }
  }
}

/** A bundle that does not read is the admin's mistake (400), named by file. */
async function bundleOf(dir: string): Promise<Awaited<ReturnType<typeof readBundle>>> {
  try {
    return await readBundle(dir);
  } catch (err) {
    if (err instanceof BundleError) throw new AttuneError('INVALID_MODEL', err.message);
    throw err;
  }
}

async function manifestOf(dir: string): Promise<ModelManifest> {
  return (await bundleOf(dir)).manifest;
}
