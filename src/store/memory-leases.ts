import { assertLeaseId, assertNodeId, assertTtl, type Lease, type LeaseHolder, type LeaseStore } from './leases.js';

/** Leases within one process: the embedded default, and the model the Redis store must match. */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<number, LeaseHolder>();
  /** Never reset, not even on release, so epochs only grow. */
  private readonly epochs = new Map<number, number>();
  private readonly nodes = new Map<string, number>();

  constructor(
    private readonly shardCount: number,
    private readonly now: () => number = Date.now,
  ) {}

  async heartbeat(nodeId: string, ttlMs: number): Promise<void> {
    assertNodeId(nodeId);
    assertTtl(ttlMs);
    this.nodes.set(nodeId, this.now() + ttlMs);
  }

  async leave(nodeId: string): Promise<void> {
    this.nodes.delete(nodeId);
  }

  async liveNodes(): Promise<string[]> {
    const now = this.now();
    for (const [nodeId, expiresAt] of this.nodes) if (expiresAt <= now) this.nodes.delete(nodeId);
    return [...this.nodes.keys()].sort();
  }

  async acquire(shard: number, nodeId: string, ttlMs: number): Promise<Lease | null> {
    assertLeaseId(shard, this.shardCount);
    assertNodeId(nodeId);
    assertTtl(ttlMs);
    const held = this.live(shard);
    if (held && held.nodeId !== nodeId) return null;
    const epoch = (this.epochs.get(shard) ?? 0) + 1;
    this.epochs.set(shard, epoch);
    this.leases.set(shard, { nodeId, epoch, expiresAt: this.now() + ttlMs });
    return { epoch };
  }

  async renew(shard: number, nodeId: string, epoch: number, ttlMs: number): Promise<boolean> {
    assertLeaseId(shard, this.shardCount);
    assertTtl(ttlMs);
    const held = this.live(shard);
    if (!held || held.nodeId !== nodeId || held.epoch !== epoch) return false;
    this.leases.set(shard, { ...held, expiresAt: this.now() + ttlMs });
    return true;
  }

  async release(shard: number, nodeId: string, epoch: number): Promise<boolean> {
    assertLeaseId(shard, this.shardCount);
    const held = this.live(shard);
    if (!held || held.nodeId !== nodeId || held.epoch !== epoch) return false;
    this.leases.delete(shard);
    return true;
  }

  async holder(shard: number): Promise<LeaseHolder | null> {
    assertLeaseId(shard, this.shardCount);
    const held = this.live(shard);
    return held ? { ...held } : null;
  }

  /** The epoch a fenced write must carry now; null when no lease is live. Synchronous, so a check and the write it guards cannot interleave with another call. */
  currentEpoch(shard: number): number | null {
    return this.live(shard)?.epoch ?? null;
  }

  private live(shard: number): LeaseHolder | null {
    const held = this.leases.get(shard);
    if (!held) return null;
    if (held.expiresAt > this.now()) return held;
    this.leases.delete(shard);
    return null;
  }
}
