import { randomUUID } from 'node:crypto';
import { sessionKey, userKey } from '../actors/events.js';
import { shardOf } from '../store/shard.js';
import type { DeletionJob, Stores } from '../store/types.js';

export interface UserErasureDeps {
  stores: Pick<Stores, 'log' | 'pushes' | 'snapshots' | 'users' | 'identities' | 'consent' | 'mailbox' | 'bus' | 'deletionJobs' | 'shardCount'>;
  /** Erase, wait this long for writes already in flight on any node (a snapshot, a push record), erase again. */
  graceMs: number;
  /** Drops the keys' cached lists on every node (the caches have their own invalidation bus). */
  forgetCached: (keys: readonly string[]) => Promise<void>;
  now?: () => number;
  onError: (err: unknown, context: string) => void;
}

/**
 * Erases a user: the log, snapshots, pushes and cached lists of the user's key and of every
 * session ever linked to it, the profile, the links, and (unless the erasure follows an
 * opt-out, whose record must survive it) the consent record. Every node first drops the keys'
 * live actors and cached lists (a `forget` on the node bus). Runs as a job; its status, which
 * names no user, is readable from any node.
 */
export class UserErasure {
  private readonly running = new Set<Promise<void>>();
  private readonly now: () => number;

  constructor(private readonly deps: UserErasureDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Starts erasing the (pseudonymized) user and returns the job, still running. */
  async start(userId: string, options: { keepConsent: boolean }): Promise<DeletionJob> {
    const job: DeletionJob = { id: randomUUID(), state: 'running', requestedAt: this.now(), finishedAt: null, keysErased: 0 };
    await this.deps.stores.deletionJobs.put(job);
    const run = this.run(job, userId, options.keepConsent).finally(() => this.running.delete(run));
    this.running.add(run);
    return job;
  }

  get(jobId: string): Promise<DeletionJob | null> {
    return this.deps.stores.deletionJobs.get(jobId);
  }

  /** Waits for the jobs this node runs (shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private async run(job: DeletionJob, userId: string, keepConsent: boolean): Promise<void> {
    const { stores } = this.deps;
    try {
      // The sessions are read once: a link written after this is a new login, not erased data.
      const sessions = await stores.identities.sessionsOf(userId);
      const keys = [userKey(userId), ...sessions.map(sessionKey)];
      await this.erase(keys, userId, keepConsent);
      if (this.deps.graceMs > 0) await new Promise((resolve) => setTimeout(resolve, this.deps.graceMs));
      await this.erase(keys, userId, keepConsent);
      await stores.deletionJobs.put({ ...job, state: 'done', finishedAt: this.now(), keysErased: keys.length });
    } catch (err) {
      this.deps.onError(err, `deletion job ${job.id}`);
      const failed: DeletionJob = { ...job, state: 'failed', finishedAt: this.now(), error: err instanceof Error ? err.message : String(err) };
      await stores.deletionJobs.put(failed).catch((putErr: unknown) => this.deps.onError(putErr, `deletion job ${job.id} status`));
    }
  }

  private async erase(keys: readonly string[], userId: string, keepConsent: boolean): Promise<void> {
    const { stores } = this.deps;
    await stores.bus.publish({ type: 'forget', keys: [...keys] });
    await this.deps.forgetCached(keys);
    for (const key of keys) {
      await Promise.all([stores.log.delete(key), stores.pushes.delete(key), stores.snapshots.delete(key), stores.mailbox.discard(shardOf(key, stores.shardCount), key)]);
    }
    await Promise.all([stores.users.delete(userId), stores.identities.unlinkUser(userId), keepConsent ? Promise.resolve() : stores.consent.delete(userId)]);
  }
}
