import type { Fence } from '../store/types.js';

/**
 * Where a key's actor lives: the seam between the actor host and how keys are spread over
 * nodes. One node alone (the embedded mode) holds every shard; nodes sharing Redis each hold
 * the shards they lease (src/actors/shard-placement.ts).
 */
export interface Placement {
  /**
   * This node's claim on a shard: the fence its writes for the shard carry, `'alone'` when no
   * other node can write them (nothing to fence), null when the shard is not (provably) its own.
   */
  claim(shard: number): Fence | 'alone' | null;
  /**
   * Whether other nodes append to the same logs: a live actor then applies the log's order
   * (reading back past its own appends), not just what it appended itself.
   */
  readonly sharedLog: boolean;
  /** The key's new entries are in the log and its actor is not live here: tell the key's owner. */
  wakeOwner(key: string): Promise<void>;
}

/** The embedded mode: this node is the only one, so it holds every shard and nothing is fenced. */
export const soleNodePlacement: Placement = {
  claim: () => 'alone',
  sharedLog: false,
  // Unreachable in practice: every key can be activated here, so no owner elsewhere needs waking.
  wakeOwner: async () => {},
};
