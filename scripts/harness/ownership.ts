import { setTimeout as sleep } from 'node:timers/promises';
import { rendezvousOwner } from '../../src/actors/shard-ownership.js';
import { SetupError } from './setup-error.js';

/** One ownership log line of a node: `{"time", "event", "nodeId", "shard", "epoch", "reason"?}`. */
export interface OwnershipChange {
  time: number;
  event: 'shard-gained' | 'shard-lost';
  nodeId: string;
  shard: number;
  epoch: number;
  reason?: string;
}

/** A node as far as its shards go: who it is and what its log says it holds. */
export interface ShardHolder {
  readonly nodeId: string;
  ownedShards(): number[];
}

export function parseOwnership(line: string): OwnershipChange | null {
  if (!line.startsWith('{') || !line.includes('"shard-')) return null;
  try {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const { event, shard, epoch, time, nodeId, reason } = parsed;
    if ((event !== 'shard-gained' && event !== 'shard-lost') || typeof shard !== 'number' || typeof epoch !== 'number' || typeof time !== 'number') return null;
    return { time, event, nodeId: String(nodeId), shard, epoch, ...(typeof reason === 'string' ? { reason } : {}) };
  } catch {
    return null;
  }
}

/** Shards held after these ownership changes of one node, in order. */
export function heldShards(changes: readonly OwnershipChange[]): number[] {
  const held = new Set<number>();
  for (const change of changes) {
    if (change.event === 'shard-gained') held.add(change.shard);
    else held.delete(change.shard);
  }
  return [...held].sort((a, b) => a - b);
}

/** shard -> nodeId by the nodes' logs; null when some shard has no holder or two. */
export function ownerMap(nodes: readonly ShardHolder[], shards: number): Map<number, string> | null {
  const owners = new Map<number, string>();
  for (const node of nodes) {
    for (const shard of node.ownedShards()) {
      if (owners.has(shard)) return null;
      owners.set(shard, node.nodeId);
    }
  }
  return owners.size === shards ? owners : null;
}

/**
 * Waits until every shard has exactly one holder by the logs and that matches the rendezvous
 * assignment over these nodes (the cluster has settled). Returns the owner map.
 */
export async function waitForSettled(nodes: readonly ShardHolder[], shards: number, timeoutMs: number): Promise<Map<number, string>> {
  const ids = nodes.map((n) => n.nodeId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const owners = ownerMap(nodes, shards);
    if (owners !== null && [...owners].every(([shard, node]) => rendezvousOwner(shard, ids) === node)) return owners;
    if (Date.now() > deadline) {
      const counts = nodes.map((n) => `${n.nodeId}=${n.ownedShards().length}`).join(' ');
      throw new SetupError(`the ${nodes.length} nodes did not settle on one owner per shard within ${timeoutMs} ms (${counts} of ${shards})`);
    }
    await sleep(50);
  }
}
