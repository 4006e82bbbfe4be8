import type { ModelEntry, ModelRegistry, NodeBus } from '../store/types.js';
import { RegistryWatch } from './registry-watch.js';

/** The part of ModelArms the follower drives. */
export interface CandidateArm {
  readonly candidateVersion: string | null;
  setCandidate(dir: string, version?: string): Promise<void>;
  clearCandidate(): Promise<void>;
}

export interface CandidateFollowerDeps {
  registry: Pick<ModelRegistry, 'list'>;
  bus: NodeBus;
  arm: CandidateArm;
  pollMs: number;
  now: () => number;
  /** A candidate whose bundle failed to load is tried again at most this often (default 30 s); a newer candidate at once. */
  retryFailedMs?: number;
  /** The candidate served changed: its version, or null when the experiment ended (promoted, retired). */
  onChanged: (version: string | null) => void;
  /** The newest candidate's bundle did not load: everyone gets the live model. */
  onLoadFailed: (entry: ModelEntry, err: unknown) => void;
  /** The registry could not be read: the next poll tries again. */
  onError: (err: unknown, context: string) => void;
}

const DEFAULT_RETRY_FAILED_MS = 30_000;

/** The candidate an experiment tries: the one registered last among those still candidates. */
export function newestCandidate(entries: readonly ModelEntry[]): ModelEntry | null {
  let newest: ModelEntry | null = null;
  for (const entry of entries) if (entry.state === 'candidate' && (newest === null || entry.registeredAt >= newest.registeredAt)) newest = entry;
  return newest;
}

/**
 * Keeps the experiment's candidate arm on the registry's newest candidate: at start, at every
 * `models-changed` on the node bus and every `pollMs`. When no candidate is left (it was promoted,
 * so it is live, or retired) the experiment ends and every key gets the live model.
 */
export class CandidateFollower {
  private failed: { version: string; at: number } | null = null;
  private readonly watch: RegistryWatch;

  constructor(private readonly deps: CandidateFollowerDeps) {
    this.watch = new RegistryWatch({ bus: deps.bus, pollMs: deps.pollMs, check: () => this.follow(), onError: (err) => deps.onError(err, 'model registry: follow the newest candidate') });
  }

  async start(): Promise<void> {
    await this.watch.start();
  }

  /** Brings the candidate arm to the newest candidate; resolves once a check begun after the call is done. Never rejects. */
  sync(): Promise<void> {
    return this.watch.sync();
  }

  stop(): Promise<void> {
    return this.watch.stop();
  }

  private async follow(): Promise<void> {
    if (this.watch.isStopped) return;
    const { arm } = this.deps;
    const wanted = newestCandidate(await this.deps.registry.list());
    if (wanted === null) {
      this.failed = null;
      if (arm.candidateVersion === null) return;
      await arm.clearCandidate();
      this.deps.onChanged(null);
      return;
    }
    if (wanted.version === arm.candidateVersion) return;
    const failed = this.failed;
    if (failed !== null && failed.version === wanted.version && this.deps.now() - failed.at < (this.deps.retryFailedMs ?? DEFAULT_RETRY_FAILED_MS)) return;
    try {
      await arm.setCandidate(wanted.dir, wanted.version);
      this.failed = null;
      this.deps.onChanged(wanted.version);
    } catch (err) {
      this.failed = { version: wanted.version, at: this.deps.now() };
      this.deps.onLoadFailed(wanted, err);
    }
  }
}
