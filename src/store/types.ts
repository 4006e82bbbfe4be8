import type { Arm } from '../lib/experiment.js';
import type { LogEntry, NewLogEntry } from '../session/events.js';
import type { StoredSnapshot } from '../session/snapshot.js';
import type { ShardMailbox } from './mailbox.js';
import type { LeaseStore } from './leases.js';
import type { OnlineMetricsStore } from './online-metrics.js';

export type { StoredSnapshot } from '../session/snapshot.js';

/**
 * The event log: the source of truth. Actors are folds over it. An append that resolved is
 * durable: only then is an event acknowledged.
 */
export interface EventLog {
  /** Appends to the key's log and returns the entry with its id; ids grow within a key. */
  append(key: string, entry: NewLogEntry): Promise<LogEntry>;
  /**
   * Appends unless an entry of the key with the same client event id was appended within the
   * last `windowMs`: then nothing is written and the first entry's id comes back, with
   * `duplicate` true. The check and the append are one atomic step, so two concurrent resends
   * store one entry.
   */
  appendOnce(key: string, entry: NewLogEntry, clientEventId: string, windowMs: number, previousId?: string | null): Promise<AppendedOnce>;
  /**
   * Appends like `append`, and says whether the new entry directly follows `previousId` in the
   * key's log (null: the log held no entry). An owner that has applied every entry up to
   * `previousId` can then apply the new one without reading the log back; `follows` false means
   * another node's entries may lie in between (or the log was trimmed empty), so it reads them.
   */
  appendAfter(key: string, entry: NewLogEntry, previousId: string | null): Promise<AppendedAfter>;
  /** The key's entries with an id greater than `afterId` (all when null), oldest first. */
  read(key: string, afterId: string | null): Promise<LogEntry[]>;
  /** Every key with at least one entry whose name starts with `prefix`. */
  keys(prefix: string): Promise<string[]>;
  /** Erases the key's whole log (a user's deletion): its entries and its place in keys(). */
  delete(key: string): Promise<void>;
  /**
   * Drops the key's entries up to and including `throughId` (which a snapshot covers), except
   * the newest `keep` of them, kept for replay. Returns how many were dropped.
   */
  trim(key: string, throughId: string, keep: number): Promise<number>;
}

/** What `appendOnce` did: `eventId` is the new entry's, or the earlier one's for a duplicate. */
export interface AppendedOnce {
  eventId: string;
  duplicate: boolean;
  /** As in `appendAfter`, for the `previousId` given; false for a duplicate or when none was given. */
  follows: boolean;
}

export interface AppendedAfter {
  entry: LogEntry;
  follows: boolean;
}

/** The shard lease a write claims to hold: `shard` must be the shard of the written key. */
export interface Fence {
  shard: number;
  epoch: number;
}

/** Snapshots are a cache over the log: losing one costs a longer replay, never data. */
export interface SnapshotStore {
  get(key: string): Promise<StoredSnapshot | null>;
  /**
   * Keeps the snapshot unless the stored one is already at a later event; returns whether it was
   * kept. With a `fence`, the write also requires that the fence's shard lease is held now at
   * exactly that epoch, checked atomically with the write: otherwise it rejects with
   * `FencedError` and leaves the stored snapshot unchanged, so an owner that lost its lease
   * (paused, partitioned, expired) can never overwrite its successor's state.
   */
  put(snapshot: StoredSnapshot, fence?: Fence): Promise<boolean>;
  delete(key: string): Promise<void>;
}

export interface CatalogItem {
  itemId: string;
  title: string;
  category: string;
  price: number;
  inStock: boolean;
}

export type CatalogItemUpdate = Pick<CatalogItem, 'itemId'> & Partial<Omit<CatalogItem, 'itemId'>>;

export interface CatalogStore {
  /** Merges each update into the stored item (or creates it); returns the items as now stored. */
  upsert(updates: readonly CatalogItemUpdate[]): Promise<CatalogItem[]>;
  list(): Promise<CatalogItem[]>;
  /** The stored items among `itemIds`, in their order; unknown ids are left out. */
  get(itemIds: readonly string[]): Promise<CatalogItem[]>;
  /** Counts the writes: every upsert of at least one item adds one. */
  version(): Promise<number>;
  /**
   * The ids written by the upserts after `version`, up to `version` as returned: what a node
   * holding a copy of the catalog as of `version` must re-read. Null when the change log no
   * longer reaches back that far (it keeps the latest writes only): re-read the whole catalog.
   */
  changesSince(version: number): Promise<{ version: number; itemIds: string[] } | null>;
}

/** Which user an anonymous session was identified as. */
export interface IdentityStore {
  userOf(sessionId: string): Promise<string | null>;
  /** Links the session to the user and records the session among the user's sessions. */
  link(sessionId: string, userId: string): Promise<void>;
  /** The sessions ever linked to the user (and not unlinked since). */
  sessionsOf(userId: string): Promise<string[]>;
  /** Removes every link of the user's sessions and the user's session list; returns the session ids. */
  unlinkUser(userId: string): Promise<string[]>;
}

/**
 * What an API key may do: ingest (events, items, socket tokens), recommend (lists), privacy (a
 * user's consent and erasure: an opt-out erases too), admin (everything).
 */
export const ROLE_NAMES = ['ingest', 'recommend', 'privacy', 'admin'] as const;
export type Role = (typeof ROLE_NAMES)[number];

/** An API key as stored: never the secret itself, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  roles: Role[];
  /** Hex SHA-256 of the key's secret part. */
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface ApiKeyStore {
  /** Stores a new key; rejects with an Error when a key with the same id exists. */
  create(record: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | null>;
  /** Every key, revoked ones included, oldest first. */
  list(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked at `at`; false when it is unknown or already revoked. */
  revoke(id: string, at: number): Promise<boolean>;
}

/** One admin action. Never holds a user id: a deletion names its job, not the person. */
export interface AuditEntry {
  at: number;
  /** Who: an API key id, `master`, or `cli:<os user>`. */
  actor: string;
  /** What, e.g. `key.create`, `key.revoke`, `model.swap`, `user.delete`, `cache.invalidate`, `import.start`. */
  action: string;
  /** What it acted on: a key id, a model version, a job id. */
  target: string;
  outcome: 'ok' | 'failed';
  requestId?: string;
  detail?: Record<string, string | number | boolean>;
}

export interface AuditLog {
  /** Appends; resolves once stored. Returns the entry's id (grows with time). */
  record(entry: AuditEntry): Promise<string>;
  /** Newest first: at most `limit` entries with an id below `before` (all when absent). */
  read(options: { limit: number; before?: string }): Promise<Array<AuditEntry & { id: string }>>;
}

/** Who opted out of personalization, by (pseudonymized) user id. */
export interface ConsentStore {
  setOptedOut(userId: string, optedOut: boolean): Promise<void>;
  isOptedOut(userId: string): Promise<boolean>;
  /** Forgets the user's choice (a deletion). */
  delete(userId: string): Promise<void>;
}

/** A message every node of the deployment receives (this one included). */
export type BusMessage =
  /** Drop these actor keys' live actors, cached lists and segment membership, without writing anything. */
  | { type: 'forget'; keys: string[] }
  /** A user's consent changed: drop any cached answer about it. */
  | { type: 'consent'; userId: string; optedOut: boolean }
  /** An API key was revoked: drop it from every node's key cache. */
  | { type: 'key-revoked'; keyId: string }
  /** A session was linked to a user: every node's copy of the link follows. */
  | { type: 'identity-linked'; sessionId: string; userId: string }
  /** These sessions' links were removed (a user's erasure). */
  | { type: 'identities-unlinked'; sessionIds: string[] }
  /** A node handed its shards back and left the membership: take them over now, not at the next lease round. */
  | { type: 'node-left'; nodeId: string }
  /** The model registry changed (a promote, rollback, register or retire): `live` is the live version now. */
  | { type: 'models-changed'; live: string | null }
  /**
   * Co-occurrences a node observed in its own events since its last batch (src/model/co-occurrence.ts):
   * [from, to, weight, at] each. The others add them, so every node's table converges.
   */
  | { type: 'live-pairs'; nodeId: string; pairs: [string, string, number, number][] }
  /** A node took this many events since it last said so: the retraining leader counts them (--retrain-after-events). */
  | { type: 'events-accepted'; nodeId: string; count: number }
  /** A retraining run started (on a schedule or asked for): the leader counts the next one from here. */
  | { type: 'retrain-started'; nodeId: string; jobId: string; at: number };

export interface NodeBus {
  /** Delivers to every subscriber on every node, the publisher's own included. */
  publish(message: BusMessage): Promise<void>;
  subscribe(handler: (message: BusMessage) => void): Promise<() => Promise<void>>;
}

/** A named filter in Amazon Personalize's expression syntax (src/personalize/filter-expression.ts). */
export interface StoredFilter {
  name: string;
  filterExpression: string;
  createdAt: number;
}

export interface FilterStore {
  /** Stores a new filter; rejects with an Error when one with the same name exists. */
  create(filter: StoredFilter): Promise<void>;
  get(name: string): Promise<StoredFilter | null>;
  /** Every filter, oldest first. */
  list(): Promise<StoredFilter[]>;
  /** False when there was no such filter. */
  delete(name: string): Promise<boolean>;
}

export interface DeletionJob {
  id: string;
  state: 'running' | 'done' | 'failed';
  requestedAt: number;
  finishedAt: number | null;
  /** Actor keys erased (the user's and each of their sessions'). */
  keysErased: number;
  error?: string;
}

/** Deletion jobs' status, readable from any node; a job is kept for `DELETION_JOB_TTL_MS`. */
export interface DeletionJobStore {
  put(job: DeletionJob): Promise<void>;
  get(id: string): Promise<DeletionJob | null>;
}

export const DELETION_JOB_TTL_MS = 7 * 24 * 3600_000;

/** One `recommendations` push as it left the owner: what replay compares its lists against. */
export interface PushRecord {
  /** Epoch ms when it was emitted. */
  at: number;
  /** The latest event the list reflects; null for a re-score with no new event (a stock change). */
  cause: string | null;
  items: string[];
  modelVersion: string;
  /** The experiment arm that served it; absent in pushes recorded before experiments (live). */
  arm?: Arm;
  recommendationId: string;
}

/** The pushes of each actor key, oldest first; it keeps the latest `keep` per key. */
export interface PushLog {
  record(key: string, push: PushRecord): Promise<void>;
  read(key: string): Promise<PushRecord[]>;
  delete(key: string): Promise<void>;
}

/** A user's profile: attributes imported or put for them (Personalize's user metadata), by field name. */
export type UserAttributes = Record<string, string>;

export interface UserStore {
  /** Merges each user's attributes into their stored profile (creating it); every profile has USER_ID. */
  put(users: ReadonlyArray<{ userId: string; attributes: UserAttributes }>): Promise<void>;
  /** The stored profile, or null for a user never put. */
  get(userId: string): Promise<UserAttributes | null>;
  delete(userId: string): Promise<void>;
}

/**
 * Where the nodes of a deployment reach each other (a node forwards events to the owner of their
 * key), and the secret they show each other on those connections.
 */
export interface PeerDirectory {
  /** Records the node's URL for its peers, replacing an earlier one. */
  announce(nodeId: string, url: string): Promise<void>;
  /** The node's URL; null when it never announced one or has withdrawn it. */
  urlOf(nodeId: string): Promise<string | null>;
  withdraw(nodeId: string): Promise<void>;
  /** The secret every node of the deployment shows its peers: made by the first node that asks, the same for all after. */
  secret(): Promise<string>;
}

/** Where a registered model stands: tried out, served by every node, or put aside. */
export const MODEL_STATES = ['candidate', 'live', 'retired'] as const;
export type ModelState = (typeof MODEL_STATES)[number];

/** What a model was made from: enough to retrain it, or to tell which data a metric speaks for. */
export interface ModelLineage {
  /** SHA-256 of the training data (the manifest's trainingDataHash). */
  dataHash: string;
  /** The version this one was trained to replace (`attune train --parent`); null for none. */
  parentVersion: string | null;
  /** What it was trained on: `event log`, or a dataset file's name; null when the bundle does not say. */
  source: string | null;
  /** The training window in the event log: its first and last event ids; null when trained on a file. */
  firstEventId: string | null;
  lastEventId: string | null;
  /** Interactions trained on (a dataset's rows, the log's interactions). */
  rows: number;
  /** ISO time the bundle was written. */
  trainedAt: string;
  parameters: Record<string, number | string>;
}

/** A registered model: a bundle every node can load from `dir`. */
export interface ModelEntry {
  version: string;
  /** The bundle's location: a directory every node reads (a shared volume, or the same path on each). */
  dir: string;
  state: ModelState;
  registeredAt: number;
  /** When it last became live; null while it never was. */
  promotedAt: number | null;
  /** When it last left the live state or was retired as a candidate; null while it never did. */
  retiredAt: number | null;
  /** The version that was live when this one was promoted: where a rollback from this one goes. */
  previousLive: string | null;
  lineage: ModelLineage;
  /** Offline evaluation results from the bundle's manifest (e.g. `validation.hr@20`). */
  metrics: Record<string, number>;
}

export type NewModelEntry = Pick<ModelEntry, 'version' | 'dir' | 'registeredAt' | 'lineage' | 'metrics'>;

/** A change of the live version: the one live now, and the one it replaced (null when none was). */
export interface LiveChange {
  live: ModelEntry;
  previous: ModelEntry | null;
}

/**
 * The deployment's models and which one is live: every node serves the live one. Transitions:
 * candidate -> live (promote), retired -> live (promote, rollback), live -> retired (when another
 * becomes live), candidate -> retired (retire). Each is one atomic step, so two admins promoting
 * at once leave exactly one live version. Refusals are AttuneErrors: MODEL_NOT_FOUND,
 * MODEL_EXISTS, MODEL_STAGE (a transition the entry's state does not allow).
 */
export interface ModelRegistry {
  /** Adds a candidate; MODEL_EXISTS when the version is registered already (whatever its state). */
  register(entry: NewModelEntry): Promise<ModelEntry>;
  get(version: string): Promise<ModelEntry | null>;
  /** Every entry, oldest registration first (ties by version). */
  list(): Promise<ModelEntry[]>;
  /** The live entry; null while none was ever promoted. */
  live(): Promise<ModelEntry | null>;
  /**
   * Makes the version live; the one live before becomes retired and the new one's `previousLive`.
   * MODEL_STAGE when it is live already, or with `ifNoneLive` when any version is live (a new
   * deployment's first nodes racing to bootstrap the registry: one wins, the others follow it).
   */
  promote(version: string, at: number, options?: { ifNoneLive?: boolean }): Promise<LiveChange>;
  /** Makes the live entry's `previousLive` live again and retires the live one; MODEL_STAGE when there is none to go back to. */
  rollback(at: number): Promise<LiveChange>;
  /** Puts a candidate aside; MODEL_STAGE for the live one (promote another, or roll back) or one already retired. */
  retire(version: string, at: number): Promise<ModelEntry>;
}

export interface Stores {
  log: EventLog;
  pushes: PushLog;
  users: UserStore;
  snapshots: SnapshotStore;
  apiKeys: ApiKeyStore;
  audit: AuditLog;
  consent: ConsentStore;
  bus: NodeBus;
  deletionJobs: DeletionJobStore;
  filters: FilterStore;
  catalog: CatalogStore;
  identities: IdentityStore;
  /** Membership and shard leases; fenced snapshot writes are checked against these leases. */
  leases: LeaseStore;
  /** Keys map to shards with `shardOf(key, shardCount)` (src/store/shard.ts). */
  shardCount: number;
  /** Tells a shard's owner that a key has new log entries. */
  mailbox: ShardMailbox;
  peers: PeerDirectory;
  /** The model registry: which bundles exist and which one every node serves. */
  models: ModelRegistry;
  /** Counts of served lists and the engagement attributed to them, per minute, summed over the nodes. */
  onlineMetrics: OnlineMetricsStore;
  /**
   * True when other nodes may append to the same log (Redis): an owner then catches up from the
   * log instead of trusting that its own appends are the only ones.
   */
  sharedByNodes: boolean;
  /** Null while the stores answer as far as this node knows; otherwise why not (for readiness). */
  unavailableReason(): string | null;
  close(): Promise<void>;
}

/**
 * A fenced write named an epoch that is not the shard lease's current one (the lease expired,
 * was released or moved on). Not retryable: the writer no longer owns the shard.
 */
export class FencedError extends Error {
  constructor(
    readonly shard: number,
    readonly epoch: number,
    /** The lease's epoch now; null when no one holds the shard. */
    readonly currentEpoch: number | null,
  ) {
    super(`write fenced off: shard ${shard} lease epoch is ${currentEpoch ?? 'unheld'}, the writer had ${epoch}`);
    this.name = 'FencedError';
  }
}

/**
 * The store could not be reached or did not answer in time. Retryable. The operation may or
 * may not have taken effect: an append that failed this way may still be in the log.
 */
export class StoreUnavailableError extends Error {
  readonly retryable = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** Orders stream-style ids `<ms>-<seq>`; null sorts before every id. */
export function compareEventIds(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  return am !== bm ? (am < bm ? -1 : 1) : as < bs ? -1 : as > bs ? 1 : 0;
}

function splitId(id: string): [bigint, bigint] {
  const dash = id.indexOf('-');
  return [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))];
}
