import { createHash } from 'node:crypto';
import { sessionKey, userKey } from '../../session/events.js';
import { assertShardCount, shardOf } from '../shard.js';

/**
 * Where everything lives. Every per-key and per-shard key starts with `<prefix>:{<shard>}`: the
 * braces are a Redis Cluster hash tag, so one shard's log streams, snapshots, identities and
 * lease share a slot, and a Lua script can check the shard's lease and write its data
 * atomically (a script may only touch keys of one slot).
 *
 *   <prefix>:{<shard>}:log:<actorKey>    stream, one entry per event (field `e`: msgpack)
 *   <prefix>:{<shard>}:keys              set of the shard's actor keys that have a log
 *   <prefix>:{<shard>}:once:<sha1 of actorKey length:actorKey:dedupId>  string: the log entry id stored for that dedup id (a client's eventId, or a forwarding node's); expires after the dedup window
 *   <prefix>:{<shard>}:push:<actorKey>   stream, the key's latest pushes (field `p`: msgpack)
 *   <prefix>:{<shard>}:snap:<actorKey>   hash: bytes, id (last event id, '' for none), epoch
 *   <prefix>:{<shard>}:ident:<sessionId> string: the user id (shard of `s:<sessionId>`)
 *   <prefix>:{<shard>}:user:<userId>     hash: the user's profile attributes (shard of `u:<userId>`)
 *   <prefix>:{<shard>}:sessions:<userId> set: the sessions linked to the user (shard of `u:<userId>`)
 *   <prefix>:{<shard>}:optout:<userId>   string '1' while the user opts out of personalization (shard of `u:<userId>`)
 *   <prefix>:{<shard>}:lease             hash: node, epoch; expires by PEXPIRE
 *   <prefix>:{<shard>}:epoch             counter, never expires: epochs only grow
 *   <prefix>:{<shard>}:quarantine        string, expires by PX: no lease is granted while it exists
 *   <prefix>:{<shard>}:kept              set of actor keys whose wake note found no subscriber
 *   <prefix>:{<shard>}:noted             sorted set: actor keys scored by their latest wake note's time (ms, Redis's clock); expires by PEXPIRE
 *   <prefix>:{catalog}:items             hash: itemId -> item JSON
 *   <prefix>:{catalog}:version           counter, incremented by every catalog write
 *   <prefix>:{catalog}:changes           stream, entry id <version>-0 holds that write's item ids
 *   <prefix>:{models}:entries            hash: model version -> JSON {version, dir, registeredAt, lineage, metrics} (never changes)
 *   <prefix>:{models}:states             hash: model version -> JSON {state, promotedAt?, retiredAt?, previousLive?}
 *   <prefix>:{models}:live               string: the live model version
 *   <prefix>:nodes                       sorted set: nodeId scored by heartbeat expiry (ms)
 *   <prefix>:peers                       hash: nodeId -> the URL its peers forward events to
 *   <prefix>:peer-secret                 string: the secret nodes show each other, set once (NX)
 *   <prefix>:apikeys                     hash: key id -> API key record JSON (a secret's hash, never the secret)
 *   <prefix>:filters                     hash: filter name -> JSON {name, filterExpression, createdAt}
 *   <prefix>:audit                       stream, admin actions (field `a`: JSON), capped near 100000; no user ids
 *   <prefix>:bus                         pub/sub channel (not a key): JSON messages to every node
 *   <prefix>:deletion-job:<jobId>        string: the job's JSON (no user id), expires by PX
 *   <prefix>:{online}:minutes            sorted set: the minutes (epoch ms) that have an online-metrics bucket
 *   <prefix>:{online}:m:<minute>         hash: `<count>|<dimensions JSON>` -> that minute's online count; expires by PEXPIRE
 *
 * With encryption at rest, the payload fields (log `e`, push `p`, snapshot `bytes`) hold sealed
 * bytes (src/store/payload-cipher.ts); no script reads them.
 */
export class RedisKeyspace {
  constructor(
    readonly prefix: string,
    readonly shardCount: number,
  ) {
    assertShardCount(shardCount);
    // A brace in the prefix would become the hash tag and put every shard in one slot.
    if (prefix === '' || /[{}]/.test(prefix)) throw new RangeError(`keyPrefix must be non-empty and free of braces, got "${prefix}"`);
  }

  shardOf(actorKey: string): number {
    return shardOf(actorKey, this.shardCount);
  }

  log(actorKey: string): string {
    return `${this.shard(this.shardOf(actorKey))}:log:${actorKey}`;
  }

  /**
   * Hashed, so that the name does not mention the user: an erasure deletes the key's log but
   * cannot list these (they expire after the dedup window). The actor key's length makes the
   * hashed text split one way only, whatever either id holds.
   */
  appendedOnce(actorKey: string, dedupId: string): string {
    const digest = createHash('sha1').update(`${actorKey.length}:${actorKey}:${dedupId}`).digest('hex');
    return `${this.shard(this.shardOf(actorKey))}:once:${digest}`;
  }

  logKeys(shard: number): string {
    return `${this.shard(shard)}:keys`;
  }

  pushes(actorKey: string): string {
    return `${this.shard(this.shardOf(actorKey))}:push:${actorKey}`;
  }

  snapshot(actorKey: string): string {
    return `${this.shard(this.shardOf(actorKey))}:snap:${actorKey}`;
  }

  user(userId: string): string {
    return `${this.shard(this.shardOf(userKey(userId)))}:user:${userId}`;
  }

  /** The user's sessions: the reverse of `identity`, in the slot of the user's actor key. */
  sessionsOf(userId: string): string {
    return `${this.shard(this.shardOf(userKey(userId)))}:sessions:${userId}`;
  }

  optOut(userId: string): string {
    return `${this.shard(this.shardOf(userKey(userId)))}:optout:${userId}`;
  }

  identity(sessionId: string): string {
    return `${this.shard(this.shardOf(sessionKey(sessionId)))}:ident:${sessionId}`;
  }

  lease(shard: number): string {
    return `${this.shard(shard)}:lease`;
  }

  epoch(shard: number): string {
    return `${this.shard(shard)}:epoch`;
  }

  quarantine(shard: number): string {
    return `${this.shard(shard)}:quarantine`;
  }

  keptNotes(shard: number): string {
    return `${this.shard(shard)}:kept`;
  }

  /** Recent wake notes, for a new owner: the old one may have been too paused to act on them. */
  recentNotes(shard: number): string {
    return `${this.shard(shard)}:noted`;
  }

  /** The sharded pub/sub channel that tells the shard's owner a key has new log entries. */
  wake(shard: number): string {
    return `${this.shard(shard)}:wake`;
  }

  /** The items hash and its version counter share a hash tag, so one script writes both. */
  get catalog(): string {
    return `${this.prefix}:{catalog}:items`;
  }

  get catalogVersion(): string {
    return `${this.prefix}:{catalog}:version`;
  }

  get catalogChanges(): string {
    return `${this.prefix}:{catalog}:changes`;
  }

  /** The registry's three keys share a hash tag, so one script moves the live version atomically. */
  get modelEntries(): string {
    return `${this.prefix}:{models}:entries`;
  }

  get modelStates(): string {
    return `${this.prefix}:{models}:states`;
  }

  get modelLive(): string {
    return `${this.prefix}:{models}:live`;
  }

  get nodes(): string {
    return `${this.prefix}:nodes`;
  }

  get peers(): string {
    return `${this.prefix}:peers`;
  }

  get peerSecret(): string {
    return `${this.prefix}:peer-secret`;
  }

  get apiKeys(): string {
    return `${this.prefix}:apikeys`;
  }

  get filters(): string {
    return `${this.prefix}:filters`;
  }

  get audit(): string {
    return `${this.prefix}:audit`;
  }

  /** A classic pub/sub channel: in a cluster, a PUBLISH reaches the subscribers on every node. */
  get bus(): string {
    return `${this.prefix}:bus`;
  }

  /** Online metrics share a hash tag, so one MULTI adds a flush's every bucket and its index. */
  get onlineMinutes(): string {
    return `${this.prefix}:{online}:minutes`;
  }

  onlineBucket(minute: number): string {
    return `${this.prefix}:{online}:m:${minute}`;
  }

  deletionJob(jobId: string): string {
    return `${this.prefix}:deletion-job:${jobId}`;
  }

  private shard(shard: number): string {
    return `${this.prefix}:{${shard}}`;
  }
}
