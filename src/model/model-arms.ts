import { armOf, type Arm } from '../lib/experiment.js';
import type { ReducerConfig } from '../session/state.js';
import { ModelSlot } from './model-slot.js';
import type { Scorer, ScorerOptions } from './scorer.js';
import type { ServingModel } from './serving-model.js';

/** What the arms report to the metrics (src/ops/metrics.ts). */
export interface ArmsMetrics {
  experimentArmShare: { set(labels: { arm: Arm }, value: number): void };
  experimentCandidateLoadFailures: { inc(): void };
}

/** What GET /v1/admin/experiment answers. */
export interface ExperimentView {
  /** The share of keys --experiment gives the candidate; null: no experiment configured. */
  configuredShare: number | null;
  /** Keys are split now: an experiment is configured and its candidate is loaded. */
  running: boolean;
  /** The split's salt: the candidate's version (a new candidate draws a new split). */
  salt: string | null;
  arms: Array<{ arm: Arm; share: number; modelVersion: string | null }>;
  /** The candidate's bundle directory while it serves. */
  candidateDir: string | null;
  /** Why no candidate serves although one was asked for (its bundle failed to load); null otherwise. */
  problem: string | null;
}

/**
 * The models a node serves by arm: the live slot for everyone, and during an experiment a
 * candidate slot for `candidateShare` of the actor keys (chosen by src/lib/experiment.ts). With no
 * candidate loaded, or one that failed to load, every key gets the live model.
 */
export class ModelArms {
  private candidate: ModelSlot | null = null;
  private problem: string | null = null;
  /** The candidate's models as served, one object per loaded bundle, so a swap is seen by identity. */
  private readonly armed = new WeakMap<ServingModel, ServingModel>();
  private changing: Promise<unknown> = Promise.resolve();

  constructor(
    readonly live: ModelSlot,
    private readonly candidateShare: number | null,
    private readonly options: ScorerOptions,
    private readonly reducerDefaults: ReducerConfig,
    private readonly metrics: ArmsMetrics,
  ) {
    this.publish();
  }

  /** The arm that serves this key now; a list with no key (an anonymous visitor's) is live's. */
  armOf(key: string | null): Arm {
    const { candidate, candidateShare } = this;
    if (key === null || candidate === null || candidateShare === null) return 'live';
    return armOf(key, candidate.manifest.version, candidateShare);
  }

  /** The model that serves this key now, its `arm` set for the candidate. The same object until a swap. */
  modelFor(key: string | null): ServingModel {
    const candidate = this.candidate;
    if (candidate === null || this.armOf(key) === 'live') return this.live.get();
    const model = candidate.get();
    let armed = this.armed.get(model);
    if (armed === undefined) {
      armed = { ...model, arm: 'candidate' };
      this.armed.set(model, armed);
    }
    return armed;
  }

  /** The scorer serving this key now and its arm (the lists of the HTTP APIs). */
  scorerFor(key: string | null): { scorer: Scorer; arm: Arm } {
    const candidate = this.candidate;
    if (candidate !== null && this.armOf(key) === 'candidate') return { scorer: candidate.scorer, arm: 'candidate' };
    return { scorer: this.live.scorer, arm: 'live' };
  }

  /** The candidate's version, or null when none serves. */
  get candidateVersion(): string | null {
    return this.candidate?.manifest.version ?? null;
  }

  /**
   * Serves the bundle in `dir` as the candidate (replacing the one before); `version`, when given,
   * must be the one its manifest names. A bundle that fails to load or names another version ends
   * the candidate's share (everyone gets live) and is counted; the error is rethrown.
   */
  setCandidate(dir: string, version?: string): Promise<void> {
    return this.change(async () => {
      if (this.candidate?.dir === dir && (version === undefined || this.candidate.manifest.version === version)) return;
      let next: ModelSlot;
      try {
        next = await ModelSlot.load(dir, this.options, this.reducerDefaults);
        if (version !== undefined && next.manifest.version !== version) {
          await next.close();
          // A directory rewritten since it was registered is not the version every push would name.
          throw new Error(`the bundle is now version ${next.manifest.version}, not ${version}`);
        }
      } catch (err) {
        await this.dropCandidate();
        this.problem = `the candidate bundle ${dir} failed to load: ${err instanceof Error ? err.message : String(err)}`;
        this.metrics.experimentCandidateLoadFailures.inc();
        throw err;
      }
      const previous = this.candidate;
      this.candidate = next;
      this.problem = null;
      await previous?.close();
    });
  }

  /** No candidate any more (promoted or retired): every key gets the live model. */
  clearCandidate(): Promise<void> {
    return this.change(async () => {
      await this.dropCandidate();
      this.problem = null;
    });
  }

  view(): ExperimentView {
    const running = this.candidate !== null && this.candidateShare !== null;
    const share = running ? (this.candidateShare ?? 0) : 0;
    return {
      configuredShare: this.candidateShare,
      running,
      salt: this.candidateVersion,
      arms: [
        { arm: 'live', share: 1 - share, modelVersion: this.live.manifest.version },
        { arm: 'candidate', share, modelVersion: running ? this.candidateVersion : null },
      ],
      candidateDir: this.candidate?.dir ?? null,
      problem: this.problem,
    };
  }

  /** Why the experiment asked for does not run, for /readyz; null when it runs or none was asked for. */
  get candidateProblem(): string | null {
    return this.problem;
  }

  close(): Promise<void> {
    return this.change(() => this.dropCandidate());
  }

  /** Changes run one at a time; each publishes the shares it leaves. */
  private change(step: () => Promise<void>): Promise<void> {
    const run = this.changing.then(step).finally(() => this.publish());
    this.changing = run.catch(() => undefined);
    return run;
  }

  private async dropCandidate(): Promise<void> {
    const previous = this.candidate;
    this.candidate = null;
    await previous?.close();
  }

  private publish(): void {
    const share = this.view().arms;
    for (const { arm, share: value } of share) this.metrics.experimentArmShare.set({ arm }, value);
  }
}
