import type { LeaseStore } from '../store/leases.js';
import { fnv1a32 } from '../lib/fnv1a.js';
import type { Fence } from '../store/types.js';

/**
 * Rendezvous (highest random weight) hashing: each shard goes to the live node with the highest
 * hash of (node, shard). A node joining or leaving moves only the shards it wins or held.
 */
export function rendezvousOwner(shard: number, nodes: readonly string[]): string | null {
  let best: string | null = null;
  let bestScore = -1;
  for (const node of nodes) {
    const score = fmix32(fnv1a32(`${node}#${shard}`));
    if (score > bestScore || (score === bestScore && best !== null && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

/**
 * MurmurHash3's finalizer. FNV-1a of strings that differ only in their last characters differ
 * mostly in the low bits, so unmixed scores let one node win almost every shard of a range.
 */
function fmix32(hash: number): number {
  let h = hash ^ (hash >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function assignedShards(nodeId: string, nodes: readonly string[], shardCount: number): number[] {
  const shards: number[] = [];
  for (let shard = 0; shard < shardCount; shard++) if (rendezvousOwner(shard, nodes) === nodeId) shards.push(shard);
  return shards;
}

export type LossReason = 'rebalance' | 'lease-lost' | 'shutdown';

export interface ShardOwnershipOptions {
  leases: LeaseStore;
  nodeId: string;
  shardCount: number;
  leaseTtlMs: number;
  /** The shard is this node's: it may activate actors and write fenced snapshots. */
  onGained: (shard: number, fence: Fence) => Promise<void> | void;
  /**
   * The shard is no longer this node's: stop its actors. On a rebalance or shutdown the lease is
   * still held while this runs, so fenced snapshot writes still succeed; on `lease-lost` they
   * will be refused and must not be retried.
   */
  onLost: (shard: number, reason: LossReason, fence: Fence) => Promise<void> | void;
  onError: (err: unknown, context: string) => void;
  /** A monotonic clock (ms), for judging how long ago a renewal last succeeded. */
  monotonicNow?: () => number;
}

interface Owned {
  fence: Fence;
  renewedAt: number;
}

/**
 * This node's membership and shard leases: heartbeats, the rendezvous target, acquisitions,
 * renewals and handoffs, one `tick()` at a time. Ownership is only ever believed while the last
 * successful renewal is younger than the lease TTL by this node's monotonic clock, so a node cut
 * off from the store stops acting as owner before any other node can take over.
 */
export class ShardOwnership {
  private readonly owned = new Map<number, Owned>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private readonly monotonicNow: () => number;
  private lastRoundOkAt: number | null = null;
  /** The live nodes as of the latest round, this one included: whom the rendezvous assigns each shard to. */
  private members: string[] = [];

  constructor(private readonly options: ShardOwnershipOptions) {
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
  }

  /** The fence to write this shard's owner-only data with, or null when it is not ours (now). */
  fence(shard: number): Fence | null {
    const owned = this.owned.get(shard);
    if (!owned) return null;
    return this.monotonicNow() - owned.renewedAt < this.options.leaseTtlMs ? owned.fence : null;
  }

  /** Whether this node has reached the lease store within one lease TTL: what readiness reports. */
  connected(): boolean {
    return this.lastRoundOkAt !== null && this.monotonicNow() - this.lastRoundOkAt < this.options.leaseTtlMs;
  }

  /**
   * The node the shard should be on by the latest round's membership: its owner, except while a
   * handoff is under way or before a change of membership is seen. Null before the first round.
   */
  assignedNode(shard: number): string | null {
    return rendezvousOwner(shard, this.members);
  }

  ownedShards(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  start(): void {
    const interval = Math.max(50, Math.floor(this.options.leaseTtlMs / 3));
    const loop = (): void => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, interval);
      });
    };
    loop();
  }

  /** One round: heartbeat, then move toward the rendezvous assignment over the live nodes. */
  tick(): Promise<void> {
    // Stopped, a round would heartbeat this node back into the membership it left.
    if (this.stopped) return this.ticking ?? Promise.resolve();
    this.ticking ??= this.round().finally(() => (this.ticking = null));
    return this.ticking;
  }

  /** Hands every shard back (snapshots flushed by `onLost`) and leaves the membership. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    const handedOff = await Promise.allSettled(this.ownedShards().map((shard) => this.letGo(shard, 'shutdown')));
    for (const outcome of handedOff) if (outcome.status === 'rejected') this.options.onError(outcome.reason, 'hand a shard off');
    await this.options.leases.leave(this.options.nodeId).catch((err: unknown) => this.options.onError(err, 'leave'));
  }

  private async round(): Promise<void> {
    const { leases, nodeId, shardCount, leaseTtlMs } = this.options;
    const startedAt = this.monotonicNow();
    try {
      await leases.heartbeat(nodeId, leaseTtlMs);
      const nodes = await leases.liveNodes();
      this.members = nodes.includes(nodeId) ? nodes : [...nodes, nodeId];
      const target = new Set(assignedShards(nodeId, this.members, shardCount));
      // All shards at once: one at a time, a round over many shards outlasts the lease it renews.
      const kept = await Promise.allSettled(this.ownedShards().map((shard) => (target.has(shard) ? this.renew(shard) : this.letGo(shard, 'rebalance'))));
      const taken = await Promise.allSettled([...target].filter((shard) => !this.owned.has(shard)).map((shard) => this.take(shard)));
      const failed = [...kept, ...taken].find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed) throw failed.reason;
      this.lastRoundOkAt = startedAt;
    } catch (err) {
      this.options.onError(err, 'shard ownership round');
      // Without the store we cannot prove ownership: give up what the clock says has lapsed.
      await Promise.all(this.ownedShards().filter((shard) => this.fence(shard) === null).map((shard) => this.lose(shard)));
    }
  }

  private async take(shard: number): Promise<void> {
    // The store started the lease's TTL at some instant after this one: counting from here never overestimates it.
    const startedAt = this.monotonicNow();
    const lease = await this.options.leases.acquire(shard, this.options.nodeId, this.options.leaseTtlMs);
    if (lease === null) return; // still held by its previous owner, who hands it off on its next round
    const fence = { shard, epoch: lease.epoch };
    this.owned.set(shard, { fence, renewedAt: startedAt });
    await this.options.onGained(shard, fence);
  }

  private async renew(shard: number): Promise<void> {
    const owned = this.owned.get(shard);
    if (!owned) return;
    const startedAt = this.monotonicNow();
    if (await this.options.leases.renew(shard, this.options.nodeId, owned.fence.epoch, this.options.leaseTtlMs)) owned.renewedAt = startedAt;
    else await this.lose(shard);
  }

  private async lose(shard: number): Promise<void> {
    const owned = this.owned.get(shard);
    if (!owned) return;
    this.owned.delete(shard);
    await this.options.onLost(shard, 'lease-lost', owned.fence);
  }

  private async letGo(shard: number, reason: 'rebalance' | 'shutdown'): Promise<void> {
    const owned = this.owned.get(shard);
    if (!owned) return;
    try {
      await this.options.onLost(shard, reason, owned.fence);
    } finally {
      this.owned.delete(shard);
      await this.options.leases.release(shard, this.options.nodeId, owned.fence.epoch).catch((err: unknown) => this.options.onError(err, `release shard ${shard}`));
    }
  }
}
