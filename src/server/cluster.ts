import { createShardedAdapter } from '@socket.io/redis-adapter';
import type { AttuneConfig } from '../config.js';
import { soleNodePlacement, type Placement } from '../actors/placement.js';
import { ShardPlacement, type ShardHandlers, type ShardPlacementOptions } from '../actors/shard-placement.js';
import type { Metrics } from '../ops/metrics.js';
import type { RedisClient } from '../store/redis/connection.js';
import type { RedisStores } from '../store/redis/index.js';
import type { Stores } from '../store/types.js';

type SocketAdapter = ReturnType<typeof createShardedAdapter>;

/**
 * How this node shares the work with others: the one pluggable part that differs between a
 * node alone (embedded) and nodes on shared stores (shard leases, mailboxes, the socket.io
 * Redis adapter for pushes to sockets on other nodes).
 */
export interface ClusterPart {
  placement: Placement;
  /** Null when every socket of every session is on this node. */
  socketAdapter: SocketAdapter | null;
  /** Whether other nodes write to the same stores (so the catalog's change log must be followed). */
  shared: boolean;
  /** The shards this node leases now (every shard when alone). */
  ownedShards(): number[];
  /** The node a key should be on by the latest membership; null when alone (or before the first lease round). */
  assignedNode(key: string): string | null;
  /** Null when this node's stores answer and its part of the cluster is healthy; otherwise why not. */
  notReadyReason(): string | null;
  start(handlers: ShardHandlers): void;
  /** Hands the shards off (fenced snapshots, released leases), leaves, and tells the other nodes, so they take over at once. */
  stop(): Promise<void>;
  /** Another node left: run a lease round now to take its shards. */
  rebalanceNow(): void;
  close(): Promise<void>;
}

export interface ClusterDeps {
  config: AttuneConfig;
  stores: Stores;
  /** The Redis stores this node opened, whose connections the socket adapter duplicates. */
  redis: RedisStores | null;
  nodeId: string;
  metrics: Metrics;
  logOwnership: ShardPlacementOptions['logOwnership'];
  onError: (err: unknown, context: string) => void;
}

export async function createClusterPart(deps: ClusterDeps): Promise<ClusterPart> {
  const { stores, metrics } = deps;
  const adapterClients = deps.redis === null ? null : await Promise.all([deps.redis.duplicateClient(false), deps.redis.duplicateClient(true)]);
  const socketAdapter = adapterClients === null ? null : createShardedAdapter(adapterClients[0], reportSubscriptionFailures(adapterClients[1], deps.onError));
  const closeAdapter = async (): Promise<void> => {
    for (const client of adapterClients ?? []) client.disconnect();
  };
  if (!stores.sharedByNodes) {
    const every = Array.from({ length: stores.shardCount }, (_, shard) => shard);
    return {
      placement: soleNodePlacement,
      socketAdapter,
      shared: false,
      ownedShards: () => every,
      assignedNode: () => null,
      notReadyReason: () => stores.unavailableReason(),
      start: () => metrics.shardsOwned.set(stores.shardCount),
      stop: async () => {},
      rebalanceNow: () => {},
      close: closeAdapter,
    };
  }
  const placement = new ShardPlacement({
    leases: stores.leases,
    mailbox: stores.mailbox,
    nodeId: deps.nodeId,
    shardCount: stores.shardCount,
    leaseTtlMs: deps.config.cluster.leaseTtlMs,
    metrics,
    logOwnership: deps.logOwnership,
    onError: deps.onError,
  });
  return {
    placement,
    socketAdapter,
    shared: true,
    ownedShards: () => placement.ownedShards(),
    assignedNode: (key) => placement.assignedNode(key),
    // Redis known lost says so at once; the lease rounds only notice within a lease TTL.
    notReadyReason: () => stores.unavailableReason() ?? (placement.connected() ? null : 'this node has not reached the lease store within a lease TTL'),
    start: (handlers) => placement.start(handlers),
    stop: async () => {
      await placement.stop();
      await stores.bus.publish({ type: 'node-left', nodeId: deps.nodeId }).catch((err: unknown) => deps.onError(err, 'announce leaving'));
    },
    rebalanceNow: () => placement.rebalanceNow(),
    close: closeAdapter,
  };
}

/**
 * The socket adapter subscribes to a room's channel when the room is created (a socket joins it)
 * and unsubscribes when it empties (a socket leaves), without waiting for either: with Redis
 * down, each failure would be an unhandled rejection, which ends the process. They are reported
 * instead. A socket that connects meanwhile is let go by its welcome (which needs Redis too); an
 * unsubscribe that failed leaves a subscription that only costs this node unused messages.
 */
function reportSubscriptionFailures(client: RedisClient, onError: (err: unknown, context: string) => void): RedisClient {
  type Subscription = (...channels: unknown[]) => Promise<unknown>;
  const guard = (command: 'ssubscribe' | 'sunsubscribe'): Subscription => {
    const send = (client[command] as Subscription).bind(client);
    return (...channels) => send(...channels).catch((err: unknown) => onError(err, `socket adapter ${command} ${String(channels[0])}`));
  };
  return Object.assign(client, { ssubscribe: guard('ssubscribe'), sunsubscribe: guard('sunsubscribe') });
}
