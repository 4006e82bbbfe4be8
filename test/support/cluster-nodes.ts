import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type { RecommendationsPush } from '../../src/actors/actor-host.js';
import { sessionKey } from '../../src/session/events.js';
import { decodeSnapshot } from '../../src/session/snapshot.js';
import { demoCatalog } from '../../src/demo/catalog.js';
import { RedisKeyspace } from '../../src/store/redis/keyspace.js';
import { shardOf } from '../../src/store/shard.js';
import { startNode as startHarnessNode, type NodeProcess } from '../../scripts/harness/nodes.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import type { Test } from 'tap';
import { demoModelDir, TEST_KEY } from '../helpers.js';

/**
 * Attune nodes as real processes (scripts/harness/nodes.ts), for failure tests (kill -9, SIGSTOP)
 * that an in-process node cannot stand in for, plus the closed-loop socket load and the
 * Redis-side checks those tests share.
 *
 * A node runs `src/cli/main.ts` through the TypeScript loader by default (the working tree's
 * src/, no build step); `ATTUNE_CLUSTER_TEST_ENTRY=dist` runs `bin/attune.js` (the built dist/)
 * instead, for speed, after `npm run build`. `ATTUNE_CLUSTER_TEST_LOGS=<dir>` also writes each
 * node's whole output to <dir>/<node>-<pid>.log.
 */

const READY_TIMEOUT_MS = 90_000;
const LOG_DIR = process.env.ATTUNE_CLUSTER_TEST_LOGS;
if (LOG_DIR !== undefined) mkdirSync(LOG_DIR, { recursive: true });

export interface NodeOptions {
  redisUrl: string;
  nodeId: string;
  shards: number;
  leaseTtlMs: number;
  modelDir: string;
  /** More `attune serve` flags, e.g. ['--log-keep', '1000000', '--snapshot-every', '1']. */
  args?: readonly string[];
  /** Default 0: the node picks a free port and the URL is read from its log. */
  port?: number;
}

/**
 * Only what the test process was given on purpose: no ATTUNE_* setting of the developer's shell
 * may change a node's config, and tap's process-info hook (NODE_OPTIONS) stays out of the nodes.
 */
function nodeEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('ATTUNE_') && name !== 'NODE_OPTIONS') env[name] = value;
  return env;
}

/** Starts `attune serve` on Redis at log level info, in development mode with the tests' master key, and resolves once its /readyz answers 200. */
export function startNode(options: NodeOptions): Promise<NodeProcess> {
  return startHarnessNode({
    nodeId: options.nodeId,
    redisUrl: options.redisUrl,
    entry: process.env.ATTUNE_CLUSTER_TEST_ENTRY === 'dist' ? 'built' : 'source',
    port: options.port ?? 0,
    masterKey: TEST_KEY,
    serveArgs: ['--shards', String(options.shards), '--lease-ttl-ms', String(options.leaseTtlMs), '--model', options.modelDir, '--demo-catalog', ...(options.args ?? [])],
    env: nodeEnv(),
    ...(LOG_DIR === undefined ? {} : { logFile: (pid: number) => join(LOG_DIR, `${options.nodeId}-${pid}.log`) }),
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
}

/** Starts nodes one after the other (their startup compiles TypeScript: in parallel they only fight over the cores). */
export async function startNodes(ids: readonly string[], options: Omit<NodeOptions, 'nodeId'>): Promise<NodeProcess[]> {
  const nodes: NodeProcess[] = [];
  try {
    for (const nodeId of ids) nodes.push(await startNode({ ...options, nodeId }));
  } catch (err) {
    await Promise.all(nodes.map((node) => node.stop(1000)));
    throw err;
  }
  return nodes;
}

/**
 * A fresh redis-server and nodes on it (each with `--log-keep 1000000`, so the checks can read
 * every event back), settled to a balanced split; everything stops when the test ends. Returns
 * the node options too, for nodes started later.
 */
export async function startBalancedCluster(
  t: Test,
  ids: readonly string[],
  settings: { shards: number; leaseTtlMs: number; args?: readonly string[] },
): Promise<{ nodes: NodeProcess[]; redisUrl: string; options: Omit<NodeOptions, 'nodeId'> }> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const options = { redisUrl: redis.url, shards: settings.shards, leaseTtlMs: settings.leaseTtlMs, modelDir: await demoModelDir(), args: ['--log-keep', '1000000', ...(settings.args ?? [])] };
  const nodes = await startNodes(ids, options);
  t.teardown(() => Promise.all(nodes.map((node) => node.stop(2000))));
  await waitForBalance(nodes, settings.shards, 15_000);
  return { nodes, redisUrl: redis.url, options };
}

/** Live actors on a node, from /healthz; null when it does not answer. */
export async function liveActors(node: NodeProcess): Promise<number | null> {
  try {
    const response = await fetch(`${node.url}/healthz`, { signal: AbortSignal.timeout(3000) });
    const body = (await response.json()) as { liveActors?: unknown };
    return typeof body.liveActors === 'number' ? body.liveActors : null;
  } catch {
    return null;
  }
}

/** What to print when a test fails: each node's warnings and errors, and its last lines. */
export function diagnostics(nodes: readonly NodeProcess[]): string[] {
  return nodes.map((node) => `${node.nodeId} (${node.alive ? 'running' : 'exited'}) warnings/errors:\n${node.problems().slice(-20).join('\n')}\nlast lines:\n${node.tail(20)}`);
}

// ---------------------------------------------------------------------------------------------
// Ownership audit

export interface OwnershipInterval {
  nodeId: string;
  shard: number;
  epoch: number;
  from: number;
  /** Epoch ms the node logged the loss, or was killed; null while still held. */
  to: number | null;
  end: 'lost' | 'killed' | 'open';
  reason?: string;
}

/**
 * Each node's ownership intervals, from its own log lines. A gain opens an interval, the next
 * loss of that shard closes it; a node killed with -9 holds nothing after its kill time.
 */
export function ownershipIntervals(nodes: readonly NodeProcess[]): OwnershipInterval[] {
  const intervals: OwnershipInterval[] = [];
  for (const node of nodes) {
    const open = new Map<number, OwnershipInterval>();
    for (const change of node.ownership) {
      if (change.event === 'shard-gained') {
        const previous = open.get(change.shard);
        if (previous) {
          // Gained again without a logged loss (a re-acquisition): the earlier interval ends here.
          previous.to = change.time;
          previous.end = 'lost';
        }
        const interval: OwnershipInterval = { nodeId: node.nodeId, shard: change.shard, epoch: change.epoch, from: change.time, to: null, end: 'open' };
        open.set(change.shard, interval);
        intervals.push(interval);
      } else {
        const interval = open.get(change.shard);
        if (!interval) continue;
        interval.to = change.time;
        interval.end = 'lost';
        if (change.reason !== undefined) interval.reason = change.reason;
        open.delete(change.shard);
      }
    }
    if (node.killedAt !== null) {
      for (const interval of open.values()) {
        interval.to = node.killedAt;
        interval.end = 'killed';
      }
    }
  }
  return intervals;
}

/** Pairs of intervals of one shard, held by different nodes, that overlap in time (ms). */
export function overlappingOwnership(intervals: readonly OwnershipInterval[]): Array<[OwnershipInterval, OwnershipInterval]> {
  const found: Array<[OwnershipInterval, OwnershipInterval]> = [];
  const byShard = new Map<number, OwnershipInterval[]>();
  for (const interval of intervals) byShard.set(interval.shard, [...(byShard.get(interval.shard) ?? []), interval]);
  for (const list of byShard.values()) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [a, b] = [list[i], list[j]];
        if (a.nodeId === b.nodeId) continue;
        const aTo = a.to ?? Infinity;
        const bTo = b.to ?? Infinity;
        if (a.from < bTo && b.from < aTo) found.push([a, b]);
      }
    }
  }
  return found;
}

/** Per shard, intervals in time order whose epoch does not grow. */
export function nonIncreasingEpochs(intervals: readonly OwnershipInterval[]): Array<[OwnershipInterval, OwnershipInterval]> {
  const found: Array<[OwnershipInterval, OwnershipInterval]> = [];
  const byShard = new Map<number, OwnershipInterval[]>();
  for (const interval of intervals) byShard.set(interval.shard, [...(byShard.get(interval.shard) ?? []), interval]);
  for (const list of byShard.values()) {
    const sorted = [...list].sort((a, b) => a.from - b.from || a.epoch - b.epoch);
    for (let i = 1; i < sorted.length; i++) if (sorted[i].epoch <= sorted[i - 1].epoch) found.push([sorted[i - 1], sorted[i]]);
  }
  return found;
}

/** Who held `shard` at `time` by the intervals (null: nobody). */
export function ownerAt(intervals: readonly OwnershipInterval[], shard: number, time: number): OwnershipInterval | null {
  return intervals.find((i) => i.shard === shard && i.from <= time && time < (i.to ?? Infinity)) ?? null;
}

export function describeInterval(i: OwnershipInterval): string {
  return `${i.nodeId} shard ${i.shard} epoch ${i.epoch} [${i.from}, ${i.to ?? 'open'}] ${i.end}${i.reason === undefined ? '' : ` (${i.reason})`}`;
}

/** Resolves once every shard is held by exactly one of `nodes` (by their logs) and each holds some. */
export async function waitForBalance(nodes: readonly NodeProcess[], shards: number, timeoutMs: number): Promise<void> {
  const balanced = (): boolean => {
    const counts = new Array<number>(shards).fill(0);
    for (const node of nodes) for (const shard of node.ownedShards()) counts[shard]++;
    return counts.every((c) => c === 1) && nodes.every((node) => node.ownedShards().length > 0);
  };
  const deadline = Date.now() + timeoutMs;
  while (!balanced()) {
    if (Date.now() > deadline) {
      throw new Error(`shards not balanced over ${nodes.map((n) => n.nodeId).join(', ')} within ${timeoutMs} ms: ${nodes.map((n) => `${n.nodeId}=${n.ownedShards().length}`).join(' ')}`);
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Closed-loop socket load

export type Outcome = 'acked' | 'refused' | 'timeout' | 'disconnected';

export interface SentEvent {
  emittedAt: number;
  settledAt: number | null;
  outcome: Outcome | null;
  eventId: string | null;
  errorCode: string | null;
  /** The node URL the socket was connected to. */
  via: string;
}

export interface ReceivedPush {
  at: number;
  eventId: string | null;
  via: string;
  items: string[];
}

export interface LoadClientOptions {
  sessionId: string;
  /** Preferred node first; on a disconnect the client moves to the next live one. */
  urls: () => readonly string[];
  firstUrl: string;
  intervalMs: number;
  ackTimeoutMs: number;
  seed: number;
}

const CATEGORY_ITEMS: string[][] = (() => {
  const groups = new Map<string, string[]>();
  for (const item of demoCatalog()) groups.set(item.category, [...(groups.get(item.category) ?? []), item.itemId]);
  return [...groups.values()];
})();

/**
 * One session's socket in a closed loop: emit a view, wait for its ack, wait `intervalMs`,
 * repeat. Views hop category every time, so nearly every event changes the top-N and is pushed.
 * When the socket drops (its node died), the client reconnects to the next live URL and goes on.
 */
export class LoadClient {
  readonly key: string;
  readonly sent: SentEvent[] = [];
  readonly pushes: ReceivedPush[] = [];
  readonly connections: Array<{ url: string; at: number }> = [];
  readonly disconnects: Array<{ url: string; at: number; reason: string }> = [];
  private socket: Socket | null = null;
  private url: string;
  private stopped = false;
  private loop: Promise<void> | null = null;
  private random: () => number;
  private category = -1;

  constructor(private readonly options: LoadClientOptions) {
    this.key = sessionKey(options.sessionId);
    this.url = options.firstUrl;
    let a = options.seed >>> 0;
    this.random = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  get connectedTo(): string | null {
    return this.socket?.connected ? this.url : null;
  }

  async connect(): Promise<void> {
    await this.open(this.url);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Ends the loop after the event in flight settles. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  close(): void {
    this.stopped = true;
    this.socket?.close();
  }

  /** One event outside the loop (the client need not be started), a view unless given; resolves once it settled. */
  async sendOne(event?: { eventType: string; itemId: string }): Promise<SentEvent> {
    if (!this.socket?.connected) throw new Error(`${this.key} is not connected`);
    await this.emitOne(this.socket, event);
    const sent = this.sent.at(-1);
    if (sent === undefined) throw new Error('nothing sent');
    return sent;
  }

  acked(): SentEvent[] {
    return this.sent.filter((e) => e.outcome === 'acked');
  }

  /** Sent but neither acked nor cleanly refused: each may or may not be in the log. */
  uncertain(): SentEvent[] {
    return this.sent.filter((e) => e.outcome !== 'acked' && !(e.outcome === 'refused' && e.errorCode === 'ATTUNE_ERR_VALIDATION'));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.socket?.connected) {
        await this.reconnect();
        continue;
      }
      await this.emitOne(this.socket);
      if (!this.stopped) await sleep(this.options.intervalMs);
    }
  }

  private async emitOne(socket: Socket, event?: { eventType: string; itemId: string }): Promise<void> {
    this.category = (this.category + 1 + Math.floor(this.random() * (CATEGORY_ITEMS.length - 1))) % CATEGORY_ITEMS.length;
    const items = CATEGORY_ITEMS[this.category];
    const { eventType, itemId } = event ?? { eventType: 'view', itemId: items[Math.floor(this.random() * items.length)] };
    const sent: SentEvent = { emittedAt: Date.now(), settledAt: null, outcome: null, eventId: null, errorCode: null, via: this.url };
    this.sent.push(sent);
    try {
      const reply = (await socket.timeout(this.options.ackTimeoutMs).emitWithAck('event', { eventType, itemId })) as { ok: boolean; eventId?: string; error?: { code: string } };
      sent.settledAt = Date.now();
      if (reply.ok && typeof reply.eventId === 'string') {
        sent.outcome = 'acked';
        sent.eventId = reply.eventId;
      } else {
        sent.outcome = 'refused';
        sent.errorCode = reply.error?.code ?? 'NO_EVENT_ID';
      }
    } catch (err) {
      sent.settledAt = Date.now();
      sent.outcome = socket.connected ? 'timeout' : 'disconnected';
      sent.errorCode = err instanceof Error ? err.message : String(err);
    }
  }

  private async reconnect(): Promise<void> {
    const urls = this.options.urls();
    if (urls.length === 0) {
      await sleep(100);
      return;
    }
    const next = urls[(urls.indexOf(this.url) + 1) % urls.length];
    try {
      await this.open(next);
    } catch {
      await sleep(100);
    }
  }

  private open(url: string): Promise<void> {
    this.socket?.removeAllListeners();
    this.socket?.close();
    this.url = url;
    const socket = connectSocket(url, { transports: ['websocket'], auth: { sessionId: this.options.sessionId }, reconnection: false, forceNew: true, timeout: 5000 });
    this.socket = socket;
    socket.on('recommendations', (push: RecommendationsPush) => this.pushes.push({ at: Date.now(), eventId: push.cause?.eventId ?? null, via: url, items: push.items.map((item) => item.itemId) }));
    socket.on('disconnect', (reason) => this.disconnects.push({ url, at: Date.now(), reason }));
    return new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        this.connections.push({ url, at: Date.now() });
        resolve();
      });
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    });
  }
}

export interface LoadOptions {
  sockets: number;
  /** Socket i connects to urls()[i % n] first. */
  urls: () => readonly string[];
  intervalMs: number;
  ackTimeoutMs?: number;
  prefix: string;
}

/** Many LoadClients at once. */
export class Load {
  readonly clients: LoadClient[] = [];

  constructor(private readonly options: LoadOptions) {}

  /** Connects `count` more sockets (default: options.sockets), spread over the current URLs, and starts them. */
  async add(count = this.options.sockets, urls: readonly string[] = this.options.urls()): Promise<LoadClient[]> {
    const added: LoadClient[] = [];
    const first = this.clients.length;
    for (let i = 0; i < count; i++) {
      const n = first + i;
      added.push(
        new LoadClient({
          sessionId: `${this.options.prefix}-${n}`,
          urls: this.options.urls,
          firstUrl: urls[i % urls.length],
          intervalMs: this.options.intervalMs,
          ackTimeoutMs: this.options.ackTimeoutMs ?? 10_000,
          seed: 1000 + n,
        }),
      );
    }
    await Promise.all(added.map((client) => client.connect()));
    this.clients.push(...added);
    for (const client of added) client.start();
    return added;
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.stop()));
  }

  close(): void {
    for (const client of this.clients) client.close();
  }

  totals(): { sent: number; acked: number; uncertain: number; pushes: number; refusedCodes: Record<string, number> } {
    const refusedCodes: Record<string, number> = {};
    let sent = 0;
    let acked = 0;
    let uncertain = 0;
    let pushes = 0;
    for (const client of this.clients) {
      sent += client.sent.length;
      acked += client.acked().length;
      uncertain += client.uncertain().length;
      pushes += client.pushes.length;
      for (const e of client.sent) if (e.outcome !== 'acked') refusedCodes[`${e.outcome}:${e.errorCode}`] = (refusedCodes[`${e.outcome}:${e.errorCode}`] ?? 0) + 1;
    }
    return { sent, acked, uncertain, pushes, refusedCodes };
  }
}

/**
 * How long after `since` the client's pushes resumed: the first push reflecting an event the
 * client emitted after `since`. Null if none came.
 */
export function pushResumedAfter(client: LoadClient, since: number): number | null {
  const after = new Set(client.sent.filter((e) => e.emittedAt > since && e.eventId !== null).map((e) => e.eventId));
  const push = client.pushes.find((p) => p.at > since && p.eventId !== null && after.has(p.eventId));
  return push === undefined ? null : push.at - since;
}

/**
 * Event ids this client got more than one push for, counting pushes received after `since`: each
 * means two live activations applied the event. (After a crash the survivor may push again an
 * event the dead owner already pushed: at-least-once, not a double activation; pass the crash
 * time plus a delivery margin as `since` to leave those out.)
 */
export function duplicatePushes(client: LoadClient, since = -Infinity): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const push of client.pushes) {
    if (push.at <= since) continue;
    if (push.eventId === null) continue;
    if (seen.has(push.eventId)) twice.add(push.eventId);
    seen.add(push.eventId);
  }
  return [...twice];
}

// ---------------------------------------------------------------------------------------------
// What Redis holds

export interface StoredSnapshotView {
  /** The `id` field: the last event id the snapshot covers. */
  lastEventId: string | null;
  /** The fencing epoch it was written under (absent for unfenced puts). */
  epoch: number | null;
  eventCount: number;
  stateLastEventId: string | null;
}

export interface KeyRecord {
  key: string;
  shard: number;
  logIds: string[];
  snapshot: StoredSnapshotView | null;
}

/** A plain client for reading what the nodes wrote; the caller disconnects it. */
export function inspector(redisUrl: string): Redis {
  return new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

export async function readSnapshot(redis: Redis, keyspace: RedisKeyspace, key: string): Promise<StoredSnapshotView | null> {
  const [bytes, id, epoch] = await redis.hmgetBuffer(keyspace.snapshot(key), 'bytes', 'id', 'epoch');
  if (bytes === null) return null;
  const lastEventId = id === null || id.length === 0 ? null : id.toString();
  const decoded = decodeSnapshot({ key, lastEventId, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
  return { lastEventId, epoch: epoch === null ? null : Number(epoch.toString()), eventCount: decoded.state.eventCount, stateLastEventId: decoded.state.lastEventId };
}

export async function readKeys(redisUrl: string, keys: readonly string[], shards: number): Promise<KeyRecord[]> {
  const redis = inspector(redisUrl);
  const keyspace = new RedisKeyspace('attune', shards);
  try {
    const records: KeyRecord[] = [];
    for (const key of keys) {
      const entries = await redis.xrange(keyspace.log(key), '-', '+');
      records.push({ key, shard: shardOf(key, shards), logIds: entries.map(([id]) => id), snapshot: await readSnapshot(redis, keyspace, key) });
    }
    return records;
  } finally {
    redis.disconnect();
  }
}

/** Orders `<ms>-<seq>` stream ids. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}

export interface KeyVerdict {
  key: string;
  acked: number;
  uncertain: number;
  logged: number;
  /** Acked event ids the log does not hold: acknowledged, then lost. */
  missing: string[];
  /** Log entries no ack accounts for, beyond what the uncertain sends can explain. */
  unexplained: number;
  /** eventCount of the final snapshot. */
  applied: number | null;
  /** Log entries up to the snapshot's last event id: what it must have applied, once each. */
  coveredByLog: number | null;
  /** Whether the final snapshot covers the whole log. */
  complete: boolean;
}

/**
 * Exactly once, per key: every acked id is in the log; the log holds nothing beyond the acked
 * and the uncertain sends; the final snapshot's eventCount equals the log entries it covers
 * (more would be a double apply, fewer a skip); and it covers the whole log.
 */
export function verdicts(clients: readonly LoadClient[], records: readonly KeyRecord[]): KeyVerdict[] {
  const byKey = new Map(records.map((r) => [r.key, r]));
  return clients.map((client) => {
    const record = byKey.get(client.key);
    const logIds = record?.logIds ?? [];
    const logged = new Set(logIds);
    const ackedIds = client.acked().map((e) => e.eventId ?? '');
    const missing = ackedIds.filter((id) => !logged.has(id));
    const uncertain = client.uncertain().length;
    const snapshot = record?.snapshot ?? null;
    const last = snapshot?.lastEventId ?? null;
    const coveredByLog = snapshot === null ? null : last === null ? 0 : logIds.filter((id) => compareIds(id, last) <= 0).length;
    return {
      key: client.key,
      acked: ackedIds.length,
      uncertain,
      logged: logIds.length,
      missing,
      unexplained: Math.max(0, logIds.length - ackedIds.length - uncertain),
      applied: snapshot?.eventCount ?? null,
      coveredByLog,
      complete: logIds.length === 0 ? snapshot === null || snapshot.eventCount === 0 : snapshot !== null && last === logIds[logIds.length - 1],
    };
  });
}
