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
  /** One line per ownership change, so handoffs and failovers can be audited. */
  logOwnership: (change: Record<string, unknown>) => void;
  onError: (err: unknown, context: string) => void;
}

/**
 * Nodes sharing Redis: this node acts only for the shards it leases (with a fencing epoch), and
 * hears of appends other nodes made to its keys through each shard's mailbox.
 */
export class ShardPlacement implements Placement {
  readonly sharedLog = true;
  private readonly mailboxes = new Map<number, () => Promise<void>>();
  private ownership: ShardOwnership | null = null;

  constructor(private readonly options: ShardPlacementOptions) {}

  claim(shard: number): Fence | null {
    return this.ownership?.fence(shard) ?? null;
  }

  ownedShards(): number[] {
    return this.ownership?.ownedShards() ?? [];
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
        logOwnership({ event: 'shard-gained', nodeId, shard, epoch: fence.epoch });
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
        logOwnership({ event: 'shard-lost', nodeId, shard, epoch: fence.epoch, reason });
      },
      onError,
    });
    this.ownership.start();
  }

  private recentNotesMs(): number {
    return RECENT_NOTE_TTLS * this.options.leaseTtlMs;
  }

  /** Hands every shard off (fenced snapshots, released leases) so other nodes take over at once. */
  async stop(): Promise<void> {
    await this.ownership?.stop();
  }
}
