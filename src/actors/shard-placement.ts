import type { Metrics } from '../ops/metrics.js';
import type { LeaseStore } from '../store/leases.js';
import type { ShardMailbox } from '../store/mailbox.js';
import { shardOf } from '../store/shard.js';
import type { Fence } from '../store/types.js';
import type { Placement } from './placement.js';
import { ShardOwnership, type LossReason } from './shard-ownership.js';

/**
 * How long a wake note is remembered for a node that takes its shard over: it must outlast the
 * time from a note to the takeover (the lease running out, then the next acquisition round),
 * since the owner it went to may have been paused and never acted on it.
 */
const RECENT_NOTE_TTLS = 3;

/** What the actor host does when this node's shards change, and when another node appended to a key it owns. */
export interface ShardHandlers {
  adopt(shard: number): void;
  drop(shard: number, flush: boolean): Promise<void>;
  wake(key: string): Promise<void>;
}

export interface ShardPlacementOptions {
  leases: LeaseStore;
  mailbox: ShardMailbox;
  nodeId: string;
  shardCount: number;
  leaseTtlMs: number;
  metrics: Metrics;
  /**
   * One `debug` line per shard gained or lost, so handoffs and failovers can be audited, and one
   * `info` line summing up the changes of each burst (a start gains every shard at once).
   */
  logOwnership: (change: Record<string, unknown>, level: OwnershipLogLevel) => void;
  onError: (err: unknown, context: string) => void;
  /** How long after a burst's first change its summary is written (default 1000 ms). */
  summaryMs?: number;
}

export type OwnershipLogLevel = 'info' | 'debug';

/**
 * Nodes sharing Redis: this node acts only for the shards it leases (with a fencing epoch), and
 * hears of appends other nodes made to its keys through each shard's mailbox.
 */
export class ShardPlacement implements Placement {
  readonly sharedLog = true;
  private readonly mailboxes = new Map<number, () => Promise<void>>();
  private ownership: ShardOwnership | null = null;
  private readonly summary: OwnershipSummary;

  constructor(private readonly options: ShardPlacementOptions) {
    const { nodeId, shardCount, logOwnership } = options;
    this.summary = new OwnershipSummary(options.summaryMs ?? 1000, (changes) => logOwnership({ event: 'shards-changed', nodeId, ...changes, owned: this.ownedShards().length, shardCount }, 'info'));
  }

  claim(shard: number): Fence | null {
    return this.ownership?.fence(shard) ?? null;
  }

  ownedShards(): number[] {
    return this.ownership?.ownedShards() ?? [];
  }

  /** The node the key's shard should be on by the latest membership (see ShardOwnership.assignedNode); null before the first round. */
  assignedNode(key: string): string | null {
    return this.ownership?.assignedNode(shardOf(key, this.options.shardCount)) ?? null;
  }

  /** False once the lease store has not answered within a lease TTL. */
  connected(): boolean {
    return this.ownership?.connected() ?? false;
  }

  async wakeOwner(key: string): Promise<void> {
    await this.options.mailbox.notify(shardOf(key, this.options.shardCount), key, this.recentNotesMs());
  }

  /** Starts leasing shards; `handlers` hear of every shard gained or lost from now on. */
  start(handlers: ShardHandlers): void {
    const { nodeId, metrics, logOwnership, onError } = this.options;
    metrics.shardsOwned.set(0);
    this.ownership = new ShardOwnership({
      leases: this.options.leases,
      nodeId,
      shardCount: this.options.shardCount,
      leaseTtlMs: this.options.leaseTtlMs,
      onGained: async (shard, fence) => {
        // Logged before anything is applied under the lease, so the log's ownership intervals are conservative.
        logOwnership({ event: 'shard-gained', nodeId, shard, epoch: fence.epoch }, 'debug');
        this.summary.gained();
        metrics.shardsOwned.inc();
        handlers.adopt(shard);
        // Wakes the keys noted recently too: their notes may have gone to a paused former owner.
        this.mailboxes.set(shard, await this.options.mailbox.subscribe(shard, this.recentNotesMs(), (key) => void handlers.wake(key).catch((err: unknown) => onError(err, `wake ${key}`))));
      },
      onLost: async (shard: number, reason: LossReason, fence: Fence) => {
        await this.mailboxes.get(shard)?.();
        this.mailboxes.delete(shard);
        metrics.shardsOwned.dec();
        await handlers.drop(shard, reason !== 'lease-lost');
        logOwnership({ event: 'shard-lost', nodeId, shard, epoch: fence.epoch, reason }, 'debug');
        this.summary.lost(reason);
      },
      onError,
    });
    this.ownership.start();
  }

  private recentNotesMs(): number {
    return RECENT_NOTE_TTLS * this.options.leaseTtlMs;
  }

  /** Runs a lease round now (another node left: its shards are free), unless one is running or this node stopped. */
  rebalanceNow(): void {
    void this.ownership?.tick();
  }

  /** Hands every shard off (fenced snapshots, released leases) so other nodes take over at once. */
  async stop(): Promise<void> {
    await this.ownership?.stop();
    this.summary.flush();
  }
}

/** The changes of one burst, counted; written `delayMs` after its first change, or at a flush. */
class OwnershipSummary {
  private gains = 0;
  private readonly losses = new Map<LossReason, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly delayMs: number,
    private readonly write: (changes: { gained: number; lost: number; lostBy?: Partial<Record<LossReason, number>> }) => void,
  ) {}

  gained(): void {
    this.gains++;
    this.schedule();
  }

  lost(reason: LossReason): void {
    this.losses.set(reason, (this.losses.get(reason) ?? 0) + 1);
    this.schedule();
  }

  /** Writes what was counted since the last summary, if anything. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const lost = [...this.losses.values()].reduce((a, b) => a + b, 0);
    if (this.gains === 0 && lost === 0) return;
    this.write({ gained: this.gains, lost, ...(lost === 0 ? {} : { lostBy: Object.fromEntries(this.losses) }) });
    this.gains = 0;
    this.losses.clear();
  }

  private schedule(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref();
  }
}
