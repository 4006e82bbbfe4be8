import { AttuneError } from '../errors.js';
import type { ModelManifest } from '../model/types.js';
import type { ModelEntry, ModelRegistry, NodeBus } from '../store/types.js';
import { RegistryWatch } from './registry-watch.js';
import { registryEntryOf } from './model-admin.js';

/** The part of ModelSlot the follower drives. */
export interface FollowedSlot {
  readonly manifest: ModelManifest;
  readonly dir: string;
  /** Loads the bundle in `dir` and serves it; `accept` may refuse the loaded bundle by throwing. */
  swap(dir: string, accept: (candidate: { manifest: ModelManifest }) => void): Promise<{ previous: ModelManifest; current: ModelManifest }>;
}

/** Whether this node serves the registry's live version; null fields when it does. */
export interface FollowStatus {
  /** The live version this node should serve and does not (its bundle failed to load). */
  wantedModelVersion: string | null;
  /** Why it could not load it. */
  modelLoadError: string | null;
}

export interface ModelFollowerDeps {
  registry: ModelRegistry;
  bus: NodeBus;
  slot: FollowedSlot;
  pollMs: number;
  now: () => number;
  /** A live version's bundle that failed to load is tried again at most this often (default 30 s); a new live version at once. */
  retryFailedMs?: number;
  onSwapped: (change: { previous: ModelManifest; current: ModelManifest; entry: ModelEntry }) => void;
  /** The node serves the live version (after a swap, or found so at a check): any earlier failure is over. */
  onInStep?: () => void;
  /** The bundle of the live version did not load: the node goes on serving the model it has. */
  onLoadFailed: (entry: ModelEntry, err: unknown) => void;
  /** The empty registry took this node's bundle as its first live version. */
  onBootstrapped: (entry: ModelEntry) => void;
  /** The registry could not be read (Redis down...): the next poll tries again. */
  onError: (err: unknown, context: string) => void;
}

const DEFAULT_RETRY_FAILED_MS = 30_000;

/**
 * Makes this node serve the registry's live version: at start, at every `models-changed` on the
 * node bus (at once) and every `pollMs` (what the bus lost). A version whose bundle does not load
 * leaves the node serving the model it has, and says so in status() until it serves the live one.
 */
export class ModelFollower {
  private failed: { version: string; at: number; message: string } | null = null;
  private wanted: string | null = null;
  private readonly watch: RegistryWatch;

  constructor(private readonly deps: ModelFollowerDeps) {
    this.watch = new RegistryWatch({ bus: deps.bus, pollMs: deps.pollMs, check: () => this.follow(), onError: (err) => deps.onError(err, 'model registry: follow the live version') });
  }

  /**
   * With no live version in the registry, registers and promotes the bundle this node serves (a
   * new deployment's first node); then serves the live version and starts following it.
   */
  async start(): Promise<void> {
    try {
      if ((await this.deps.registry.live()) === null) await this.bootstrap();
    } catch (err) {
      this.deps.onError(err, 'model registry: bootstrap');
    }
    await this.watch.start();
  }

  /** Says so only once the live version failed to load here (not while it loads). */
  status(): FollowStatus {
    const failed = this.failed;
    const behind = failed !== null && this.wanted === failed.version && this.wanted !== this.deps.slot.manifest.version;
    return behind ? { wantedModelVersion: failed.version, modelLoadError: failed.message } : { wantedModelVersion: null, modelLoadError: null };
  }

  /** Brings the served model to the live version; resolves once a check begun after the call is done. Never rejects. */
  sync(): Promise<void> {
    return this.watch.sync();
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }

  private async bootstrap(): Promise<void> {
    const { registry, slot } = this.deps;
    const version = slot.manifest.version;
    try {
      await registry.register(registryEntryOf(slot.dir, slot.manifest, this.deps.now()));
    } catch (err) {
      if (!isCode(err, 'ATTUNE_ERR_MODEL_EXISTS')) throw err;
    }
    try {
      // Another node starting at the same time may have promoted its own first: then that one stays live.
      const { live } = await registry.promote(version, this.deps.now(), { ifNoneLive: true });
      this.deps.onBootstrapped(live);
      await this.deps.bus.publish({ type: 'models-changed', live: version });
    } catch (err) {
      if (!isCode(err, 'ATTUNE_ERR_MODEL_STAGE')) throw err;
    }
  }

  private async follow(): Promise<void> {
    if (this.watch.isStopped) return;
    const live = await this.deps.registry.live();
    this.wanted = live?.version ?? null;
    if (live === null || live.version === this.deps.slot.manifest.version) {
      this.failed = null;
      this.deps.onInStep?.();
      return;
    }
    const failed = this.failed;
    if (failed !== null && failed.version === live.version && this.deps.now() - failed.at < (this.deps.retryFailedMs ?? DEFAULT_RETRY_FAILED_MS)) return;
    try {
      const swapped = await this.deps.slot.swap(live.dir, (candidate) => {
        // A directory rewritten since it was registered is not the version every push would name.
        if (candidate.manifest.version !== live.version) throw new Error(`the bundle in ${live.dir} is now version ${candidate.manifest.version}, not ${live.version}`);
      });
      this.failed = null;
      this.deps.onSwapped({ ...swapped, entry: live });
      this.deps.onInStep?.();
    } catch (err) {
      this.failed = { version: live.version, at: this.deps.now(), message: err instanceof Error ? err.message : String(err) };
      this.deps.onLoadFailed(live, err);
    }
  }
}

function isCode(err: unknown, code: string): boolean {
  return err instanceof AttuneError && err.code === code;
}
