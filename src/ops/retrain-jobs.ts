import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AttuneConfig } from '../config.js';
import type { RetrainRunOutcome, Metrics } from './metrics.js';
import type { ReducerConfig } from '../session/state.js';
import { RESERVED_LEASES, type Lease } from '../store/leases.js';
import type { AuditEntry, LiveChange, ModelEntry, Stores } from '../store/types.js';
import { lineageOf } from '../model/lineage.js';
import { logTrainingData } from '../training/log-dataset.js';
import { gateDecision, type GateDecision } from '../training/retrain-gate.js';
import type { RetrainOutcome } from '../training/retrain-run.js';
import { retrainInThread, type RetrainThread } from '../training/retrain-thread.js';

/*
 * Scheduled retraining (issue 13 point 3). Two reserved leases, taken and fenced like shard
 * leases: whoever holds `retrainLeader` decides when a run is due (every --retrain-every, or
 * after --retrain-after-events events, counted from every node's reports on the bus); a run,
 * scheduled or asked for over HTTP on any node, holds `retrainRun` from start to end, so one
 * runs at a time in the whole cluster. A run reads the log, trains and scores in a worker thread
 * (src/training/retrain-thread.ts), registers the candidate in the model registry with its
 * lineage, and promotes it only when the gate (src/training/retrain-gate.ts) lets it; each step
 * is written to the audit log.
 */

export type RetrainTrigger = 'schedule' | 'events' | 'request';
export type RetrainStatus = 'running' | RetrainRunOutcome;

/** One run as GET /v1/admin/models/retrain/:jobId shows it. */
export interface RetrainJob {
  jobId: string;
  trigger: RetrainTrigger;
  nodeId: string;
  status: RetrainStatus;
  startedAt: string;
  finishedAt: string | null;
  /** The model served when the run started: the candidate's parent, and what it is compared with. */
  liveVersion: string | null;
  candidateVersion: string | null;
  /** Held-out metrics (HR@20, MRR@20) of both, once scored. */
  metrics: { candidate: Record<string, number>; live: Record<string, number>; cases: number } | null;
  gate: GateDecision | null;
  /** Why it failed. */
  error: string | null;
}

/** Another run holds the retraining lease (here or on another node). */
export class RetrainBusyError extends Error {
  override name = 'RetrainBusyError';
  constructor(readonly holder: string | null) {
    super(holder === null ? 'a retraining run is starting' : `a retraining run is going on node ${holder}`);
  }
}

export interface RetrainJobsDeps {
  config: AttuneConfig['retrain'];
  nodeId: string;
  stores: Pick<Stores, 'log' | 'identities' | 'audit' | 'leases' | 'models' | 'bus'>;
  /** Where candidate bundles are written, one directory per run; every node must read it (a shared volume). */
  modelsDir: string;
  /** The bundle this node serves now, and its version. */
  served: () => { dir: string; version: string };
  /** Makes the promoted version served (registry follower or swap); called after the registry's promote. */
  serve: (change: LiveChange) => Promise<void>;
  reducerDefaults: ReducerConfig;
  metrics: Metrics;
  /** TTL of both leases; the leader's round runs every third of it. */
  leaseTtlMs: number;
  now?: () => number;
  log?: (message: string) => void;
  onError: (err: unknown, context: string) => void;
}

/** Jobs a node remembers for GET, newest kept. */
const JOBS_KEPT = 20;
/** Audit entries read back, at most, to find when the last run was (a new leader's schedule). */
const AUDIT_LOOKBACK = 2000;
/** Of the budget, the share tuning and training may take; reading the log and scoring come on top. */
const TRAIN_SHARE = 0.6;

export class RetrainJobs {
  private readonly jobs = new Map<string, RetrainJob>();
  private readonly now: () => number;
  private leader: Lease | null = null;
  /** When the last run started, as the leader knows it; null until it is leader. */
  private lastRunAt: number | null = null;
  /** Events the cluster took since the last run (as reported on the bus), counted while leader. */
  private eventsSinceRun = 0;
  /** Events this node took since it last reported them. */
  private unreported = 0;
  private running: { job: RetrainJob; thread: RetrainThread | null; done: Promise<void> } | null = null;
  /** Set from a run's first step until it is running: the run lease is re-entrant for its holder, so a second start here must be refused before it re-acquires (and fences off) the first. */
  private starting = false;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private stopped = false;

  constructor(private readonly deps: RetrainJobsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Follows the bus and starts the leader rounds. */
  async start(): Promise<void> {
    this.unsubscribe = await this.deps.stores.bus.subscribe((message) => {
      if (message.type === 'events-accepted') this.eventsSinceRun += message.count;
      else if (message.type === 'retrain-started') {
        this.lastRunAt = message.at;
        this.eventsSinceRun = 0;
      }
    });
    const interval = Math.max(50, Math.floor(this.deps.leaseTtlMs / 3));
    const loop = (): void => {
      if (this.stopped) return;
      this.round = this.tick().finally(() => {
        this.round = null;
        if (!this.stopped) this.timer = setTimeout(loop, interval);
      });
    };
    loop();
  }

  /** Counts events this node accepted (its actors applied them); reported to the leader each round. */
  noteEvents(count: number): void {
    this.unreported += count;
  }

  /** Whether this node schedules retraining now. */
  isLeader(): boolean {
    return this.leader !== null;
  }

  get(jobId: string): RetrainJob | null {
    const job = this.jobs.get(jobId);
    return job === undefined ? null : structuredClone(job);
  }

  list(): RetrainJob[] {
    return [...this.jobs.values()].reverse().map((job) => structuredClone(job));
  }

  /**
   * Starts a run now on this node; resolves once it holds the run lease, with the job (running).
   * RetrainBusyError when a run is going anywhere in the cluster. `done` settles when it ends.
   */
  async run(trigger: RetrainTrigger, actor: string): Promise<{ job: RetrainJob; done: Promise<void> }> {
    if (this.stopped) throw new Error('retraining is stopped on this node');
    if (this.running !== null || this.starting) throw new RetrainBusyError(this.deps.nodeId);
    this.starting = true;
    try {
      return await this.begin(trigger, actor);
    } finally {
      this.starting = false;
    }
  }

  private async begin(trigger: RetrainTrigger, actor: string): Promise<{ job: RetrainJob; done: Promise<void> }> {
    const { leases } = this.deps.stores;
    const lease = await leases.acquire(RESERVED_LEASES.retrainRun, this.deps.nodeId, this.deps.leaseTtlMs);
    if (lease === null) throw new RetrainBusyError((await leases.holder(RESERVED_LEASES.retrainRun))?.nodeId ?? null);
    const startedAt = this.now();
    const served = this.deps.served();
    const job: RetrainJob = {
      jobId: `retrain-${startedAt}-${randomBytes(3).toString('hex')}`,
      trigger,
      nodeId: this.deps.nodeId,
      status: 'running',
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: null,
      liveVersion: served.version,
      candidateVersion: null,
      metrics: null,
      gate: null,
      error: null,
    };
    this.remember(job);
    const state: { job: RetrainJob; thread: RetrainThread | null; done: Promise<void> } = { job, thread: null, done: Promise.resolve() };
    this.running = state;
    state.done = this.execute(state, lease, actor, served).finally(() => {
      this.running = null;
    });
    await this.deps.stores.bus.publish({ type: 'retrain-started', nodeId: this.deps.nodeId, jobId: job.jobId, at: startedAt }).catch((err: unknown) => this.deps.onError(err, 'announce a retraining run'));
    return { job: structuredClone(job), done: state.done };
  }

  /** Stops the rounds and any run on this node (it ends failed), and gives both leases back. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.round;
    await this.unsubscribe?.();
    const running = this.running;
    if (running !== null) {
      await running.thread?.stop();
      await running.done;
    }
    if (this.leader !== null) {
      await this.deps.stores.leases.release(RESERVED_LEASES.retrainLeader, this.deps.nodeId, this.leader.epoch).catch((err: unknown) => this.deps.onError(err, 'release the retraining leader lease'));
      this.leader = null;
    }
  }

  /** One leader round: report this node's events, keep or take the leader lease, start a run when one is due. */
  private async tick(): Promise<void> {
    const { stores, nodeId, leaseTtlMs, config } = this.deps;
    try {
      if (this.unreported > 0) {
        const count = this.unreported;
        this.unreported = 0;
        await stores.bus.publish({ type: 'events-accepted', nodeId, count }).catch((err: unknown) => {
          this.unreported += count;
          throw err;
        });
      }
      if (this.leader !== null && !(await stores.leases.renew(RESERVED_LEASES.retrainLeader, nodeId, this.leader.epoch, leaseTtlMs))) {
        this.leader = null;
        this.deps.log?.('retraining: no longer the leader');
      }
      if (this.leader === null) {
        const lease = await stores.leases.acquire(RESERVED_LEASES.retrainLeader, nodeId, leaseTtlMs);
        if (lease === null) return;
        this.leader = lease;
        // The schedule goes on from the last run anywhere, not from this node's start.
        this.lastRunAt = (await this.lastRunFromAudit()) ?? this.now();
        this.eventsSinceRun = 0;
        this.deps.log?.(`retraining: this node is the leader (epoch ${lease.epoch})`);
      }
      if (this.running !== null || this.lastRunAt === null) return;
      const trigger = dueTrigger({ now: this.now(), lastRunAt: this.lastRunAt, eventsSinceRun: this.eventsSinceRun, everyMs: config.everyMs, afterEvents: config.afterEvents });
      if (trigger === null) return;
      try {
        await this.run(trigger, `node:${nodeId}`);
      } catch (err) {
        if (!(err instanceof RetrainBusyError)) throw err;
      }
    } catch (err) {
      this.deps.onError(err, 'retraining leader round');
    }
  }

  /** When the last run started by the audit log (its `retrain.started` entry); null when none is recent. */
  private async lastRunFromAudit(): Promise<number | null> {
    let before: string | undefined;
    for (let read = 0; read < AUDIT_LOOKBACK; ) {
      const page = await this.deps.stores.audit.read({ limit: 200, ...(before === undefined ? {} : { before }) });
      const found = page.find((entry) => entry.action === 'retrain.started');
      if (found !== undefined) return found.at;
      if (page.length < 200) return null;
      read += page.length;
      before = page[page.length - 1].id;
    }
    return null;
  }

  private async execute(state: { job: RetrainJob; thread: RetrainThread | null }, lease: Lease, actor: string, served: { dir: string; version: string }): Promise<void> {
    const { job } = state;
    const { stores, nodeId, leaseTtlMs, config } = this.deps;
    const renewal = setInterval(() => {
      void stores.leases.renew(RESERVED_LEASES.retrainRun, nodeId, lease.epoch, leaseTtlMs).catch((err: unknown) => this.deps.onError(err, 'renew the retraining run lease'));
    }, Math.max(50, Math.floor(leaseTtlMs / 3)));
    const outDir = join(this.deps.modelsDir, job.jobId);
    let registered: ModelEntry | null = null;
    const audit = (action: string, target: string, outcome: AuditEntry['outcome'], detail: Record<string, string | number | boolean>): Promise<void> =>
      stores.audit.record({ at: this.now(), actor, action, target, outcome, detail: { jobId: job.jobId, trigger: job.trigger, node: nodeId, ...detail } }).then(
        () => undefined,
        (err: unknown) => this.deps.onError(err, `audit ${action}`),
      );
    try {
      await audit('retrain.started', job.jobId, 'ok', { liveVersion: served.version });
      const dataset = await logTrainingData(stores);
      if (this.stopped) throw new Error('the node is shutting down');
      this.deps.log?.(`retraining ${job.jobId}: ${dataset.interactions.length} interactions read from the log`);
      state.thread = retrainInThread(
        { interactions: dataset.interactions, liveModelDir: served.dir, outDir, holdout: config.holdout, lineage: { firstEventId: dataset.firstEventId, lastEventId: dataset.lastEventId, parentVersion: served.version }, trainBudgetMs: config.budgetS * 1000 * TRAIN_SHARE, reducerDefaults: this.deps.reducerDefaults },
        { budgetMs: config.budgetS * 1000, log: (message) => this.deps.log?.(`retraining ${job.jobId}: ${message}`) },
      );
      const outcome = await state.thread.result;
      job.candidateVersion = outcome.manifest.version;
      job.metrics = { candidate: outcome.candidate, live: outcome.live, cases: outcome.cases };
      registered = await this.register(outcome);
      await audit('retrain.trained', outcome.manifest.version, 'ok', {
        parentVersion: served.version,
        trainSessions: outcome.trainSessions,
        holdoutSessions: outcome.holdoutSessions,
        cases: outcome.cases,
        dataHash: outcome.manifest.trainingDataHash,
        seconds: Math.round(outcome.seconds),
      });
      const gate = gateDecision({ candidate: outcome.candidate, live: outcome.live, cases: outcome.cases, margin: config.margin });
      job.gate = gate;
      const compared = { ...prefixed('candidate', outcome.candidate), ...prefixed('live', outcome.live), liveVersion: outcome.liveVersion, cases: outcome.cases, margin: config.margin, gateMetric: gate.metric, reason: gate.reason };
      if (!gate.promote) {
        if (registered.state === 'candidate') await stores.models.retire(registered.version, this.now());
        await audit('retrain.refused', registered.version, 'ok', compared);
        this.finish(job, 'refused', null);
        return;
      }
      // Fenced: a run whose lease lapsed (paused, cut off) must not promote over a newer run.
      if (!(await stores.leases.renew(RESERVED_LEASES.retrainRun, nodeId, lease.epoch, leaseTtlMs))) throw new Error('the retraining run lease was lost before promotion');
      const change = await stores.models.promote(registered.version, this.now());
      await stores.bus.publish({ type: 'models-changed', live: change.live.version }).catch((err: unknown) => this.deps.onError(err, 'announce the promoted model'));
      await this.deps.serve(change);
      await audit('retrain.promoted', registered.version, 'ok', { ...compared, previousVersion: change.previous?.version ?? '' });
      this.finish(job, 'promoted', null);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (registered === null) await rm(outDir, { recursive: true, force: true }).catch(() => undefined);
      await audit('retrain.failed', job.candidateVersion ?? job.jobId, 'failed', { reason });
      this.finish(job, 'failed', reason);
    } finally {
      clearInterval(renewal);
      await stores.leases.release(RESERVED_LEASES.retrainRun, nodeId, lease.epoch).catch((err: unknown) => this.deps.onError(err, 'release the retraining run lease'));
    }
  }

  /** Registers the candidate with its lineage (from its manifest); a version registered before (the same model again) is reused. */
  private async register(outcome: RetrainOutcome): Promise<ModelEntry> {
    const { manifest } = outcome;
    const existing = await this.deps.stores.models.get(manifest.version);
    if (existing !== null) return existing;
    return this.deps.stores.models.register({ version: manifest.version, dir: outcome.candidateDir, registeredAt: this.now(), lineage: lineageOf(manifest), metrics: { ...manifest.metrics } });
  }

  private finish(job: RetrainJob, status: RetrainRunOutcome, error: string | null): void {
    const at = this.now();
    job.status = status;
    job.error = error;
    job.finishedAt = new Date(at).toISOString();
    this.deps.metrics.retrainRuns.inc({ outcome: status });
    this.deps.metrics.retrainLastRun.set(at / 1000);
    this.deps.log?.(`retraining ${job.jobId}: ${status}${error === null ? '' : ` (${error})`}${job.gate === null ? '' : `: ${job.gate.reason}`}`);
  }

  private remember(job: RetrainJob): void {
    this.jobs.set(job.jobId, job);
    for (const jobId of this.jobs.keys()) {
      if (this.jobs.size <= JOBS_KEPT) break;
      if (this.jobs.get(jobId)?.status !== 'running') this.jobs.delete(jobId);
    }
  }
}

/** Whether a scheduled run is due, and why; pure. Each of `everyMs` and `afterEvents` is off at 0. */
export function dueTrigger(input: { now: number; lastRunAt: number; eventsSinceRun: number; everyMs: number; afterEvents: number }): Exclude<RetrainTrigger, 'request'> | null {
  if (input.afterEvents > 0 && input.eventsSinceRun >= input.afterEvents) return 'events';
  if (input.everyMs > 0 && input.now - input.lastRunAt >= input.everyMs) return 'schedule';
  return null;
}

function prefixed(prefix: string, metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).map(([name, value]) => [`${prefix}.${name}`, value]));
}
