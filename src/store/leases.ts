import { assertShard } from './shard.js';

/**
 * Membership and shard ownership. A node proves it is alive with heartbeats and owns a shard by
 * holding its lease. Every acquisition gets a fencing epoch larger than any before it for that
 * shard, and writes that must come from the owner carry it (see `SnapshotStore.put`), so a
 * former owner that still believes it owns the shard is refused by the store rather than
 * trusted to notice. Expiry is judged by the store's clock, never by a node's.
 *
 * Node ids must be unique per process incarnation (e.g. host + pid + random suffix): a
 * restarted node reusing an id is the same node to this store.
 */
export interface LeaseStore {
  /** Registers or refreshes the node as live for `ttlMs` from now. */
  heartbeat(nodeId: string, ttlMs: number): Promise<void>;
  /** Removes the node at once (graceful leave), instead of waiting for its heartbeat to expire. */
  leave(nodeId: string): Promise<void>;
  /** Node ids whose heartbeat has not expired, sorted. */
  liveNodes(): Promise<string[]>;

  /**
   * Takes the shard's lease for `ttlMs` unless another node holds it now (then null). The epoch
   * is strictly larger than every earlier epoch of the shard. When `nodeId` already holds the
   * lease it gets a new, larger epoch too: a re-acquisition fences off whatever was written
   * under the old one, and a retry after a lost reply still succeeds.
   *
   * A store that can lose its records while nodes run (Redis without persistence) also answers
   * null for `ttlMs` after it finds a shard with no record, so that a node that held the lost
   * lease stops acting as owner before anyone else starts. Epochs are not consecutive then.
   */
  acquire(shard: number, nodeId: string, ttlMs: number): Promise<Lease | null>;
  // `shard` in these calls may also be one of RESERVED_LEASES.
  /** Extends the lease to `ttlMs` from now; false (and no change) unless `nodeId` holds it at `epoch`. */
  renew(shard: number, nodeId: string, epoch: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up at once; false (and no change) unless `nodeId` holds it at `epoch`. */
  release(shard: number, nodeId: string, epoch: number): Promise<boolean>;
  /** Who holds the shard now; null when no lease is live. */
  holder(shard: number): Promise<LeaseHolder | null>;
}

export interface Lease {
  epoch: number;
}

export interface LeaseHolder {
  nodeId: string;
  epoch: number;
  /** Epoch ms by the store's clock. */
  expiresAt: number;
}

/**
 * Leases that are not shards, below the shard range: a cluster-wide job that one node at a time
 * may run takes one of these, fenced by its epoch as a shard is (e.g. the retraining leader).
 */
export const RESERVED_LEASES = {
  /** Whoever holds it schedules retraining (src/ops/retrain-jobs.ts). */
  retrainLeader: -1,
  /** Held for the whole of one retraining run, scheduled or asked for: one runs at a time. */
  retrainRun: -2,
} as const;

const reservedIds: ReadonlySet<number> = new Set(Object.values(RESERVED_LEASES));

/** A shard of the deployment or a reserved lease; anything else is a bug. */
export function assertLeaseId(id: number, shardCount: number): void {
  if (!reservedIds.has(id)) assertShard(id, shardCount);
}

export function assertTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}

export function assertNodeId(nodeId: string): void {
  if (nodeId.length === 0) throw new RangeError('nodeId must not be empty');
}
