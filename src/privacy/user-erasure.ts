import { randomUUID } from 'node:crypto';
import { sessionKey, userKey } from '../session/events.js';
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

interface Queued {
  job: DeletionJob;
  userId: string;
  keepConsent: boolean;
}

/**
 * Erases a user: the log, snapshots, pushes and cached lists of the user's key and of every
 * session ever linked to it, the profile, the links, and (unless the erasure follows an
 * opt-out, whose record must survive it) the consent record. Every node drops the keys' live
 * actors (a `forget` on the node bus) before and after the stores are erased, so an actor that
 * held the old state cannot write it back. Jobs run one at a time per node (each scans the
 * shared cache layer), a user already queued here is not queued twice, and a job's status,
 * which names no user, is readable from any node.
 */
export class UserErasure {
  private readonly queue: Queued[] = [];
  private readonly queuedUsers = new Map<string, DeletionJob>();
  private running: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: UserErasureDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Queues the erasure of the (pseudonymized) user and returns its job; the same job while one for the user is queued or running. */
  async start(userId: string, options: { keepConsent: boolean }): Promise<DeletionJob> {
    const pending = this.queuedUsers.get(userId);
    // A full erasure after a queued opt-out erasure still has the consent record to remove.
    if (pending !== undefined && (options.keepConsent || !this.queue.some((q) => q.job === pending && q.keepConsent))) return pending;
    const job: DeletionJob = { id: randomUUID(), state: 'running', requestedAt: this.now(), finishedAt: null, keysErased: 0 };
    await this.deps.stores.deletionJobs.put(job);
    this.queue.push({ job, userId, keepConsent: options.keepConsent });
    this.queuedUsers.set(userId, job);
    this.running ??= this.drain();
    return job;
  }

  get(jobId: string): Promise<DeletionJob | null> {
    return this.deps.stores.deletionJobs.get(jobId);
  }

  /** Waits for the jobs queued on this node (shutdown, tests). */
  async settle(): Promise<void> {
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      await this.run(next);
      if (this.queuedUsers.get(next.userId) === next.job) this.queuedUsers.delete(next.userId);
    }
    this.running = null;
  }

  private async run({ job, userId, keepConsent }: Queued): Promise<void> {
    const { stores } = this.deps;
    try {
      const keys = new Set([userKey(userId)]);
      // Each pass reads the sessions linked so far: a login racing the first pass is caught by the second.
      for (const pass of [1, 2]) {
        for (const sessionId of await stores.identities.sessionsOf(userId)) keys.add(sessionKey(sessionId));
        for (const key of await this.erase([...keys], userId, keepConsent)) keys.add(key);
        if (pass === 1 && this.deps.graceMs > 0) await new Promise((resolve) => setTimeout(resolve, this.deps.graceMs));
      }
      await stores.deletionJobs.put({ ...job, state: 'done', finishedAt: this.now(), keysErased: keys.size });
    } catch (err) {
      this.deps.onError(err, `deletion job ${job.id}`);
      const failed: DeletionJob = { ...job, state: 'failed', finishedAt: this.now(), error: err instanceof Error ? err.message : String(err) };
      await stores.deletionJobs.put(failed).catch((putErr: unknown) => this.deps.onError(putErr, `deletion job ${job.id} status`));
    }
  }

  /** One pass; returns the keys it erased (those given and any session unlinked meanwhile). */
  private async erase(given: readonly string[], userId: string, keepConsent: boolean): Promise<string[]> {
    const { stores } = this.deps;
    await stores.bus.publish({ type: 'forget', keys: [...given] });
    const keys = [...new Set([...given, ...(await stores.identities.unlinkUser(userId)).map(sessionKey)])];
    for (const key of keys) {
      await Promise.all([stores.log.delete(key), stores.pushes.delete(key), stores.snapshots.delete(key), stores.mailbox.discard(shardOf(key, stores.shardCount), key)]);
    }
    await Promise.all([stores.users.delete(userId), keepConsent ? Promise.resolve() : stores.consent.delete(userId)]);
    await this.deps.forgetCached(keys);
    // An actor activated while the stores were being erased held the old state: it goes too.
    await stores.bus.publish({ type: 'forget', keys });
    return keys;
  }
}
