import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import { demoCatalog } from '../../src/demo/catalog.js';
import { seededRandom } from '../../src/lib/random.js';
import type { BenchArgs } from './args.js';
import { SetupError } from '../harness/setup-error.js';
import type { AckReply, BenchEvent, ClientToServer, RecommendationsPush, ServerToClient } from './protocol.js';
import { round, sortedCopy, summarize } from './stats.js';

export interface LoadOptions {
  /** Shown in progress lines: "attune", "baseline". */
  label: string;
  url: string;
  /** Several nodes: socket i connects to urls[i % urls.length] (round-robin); `url` is then unused. */
  urls?: readonly string[];
  /**
   * Names the group a socket's events are reported under (e.g. "cross-node" when its node does
   * not own its session's shard); every socket is in one group. Absent: no groups.
   */
  groupOf?: (socket: { index: number; sessionId: string; url: string }) => string;
  sockets: number;
  /** Offered events per second, open loop. */
  rate: number;
  /** Measured seconds, after `warmup` seconds that are sent but not counted. */
  seconds: number;
  warmup: number;
  /** Sockets connecting at once; each batch waits for every initial list before the next. */
  connectBatch: number;
  connectTimeoutMs: number;
  /** How long after the last send to wait for late acks and pushes. */
  drainMs: number;
  seed: number;
}

export interface LoadHooks {
  progress(line: string): void;
  windowStart(): void;
  windowEnd(): void;
  /** About once a second while sending; returns extra text for the progress line. */
  second(elapsedS: number): string;
}

/** One measured run's raw outcome; latencies are sorted, in ms. */
export interface LoadResult {
  /** Events emitted inside the measured window. */
  offered: number;
  /** Schedule slots dropped because the generator fell more than one burst behind (should be 0). */
  skipped: number;
  windowMs: number;
  acked: number;
  ackErrors: number;
  ackErrorCodes: Record<string, number>;
  /** Emitted in the window but never acked by the end of the drain. */
  unacked: number;
  /** Acked events whose own push arrived. */
  pushed: number;
  /** Acked events with no push of their own: their list did not change, or a later event's push covered it. */
  unchanged: number;
  eventToPushMs: Float64Array;
  ackMs: Float64Array;
  disconnects: number;
  /** The bench's own event-loop delay during the window: how much of the latency is the generator's. */
  benchLoopDelayMs: { p50: number; p99: number; max: number };
  /** Largest gap between scheduler ticks in the window, ms. */
  maxTickGapMs: number;
  /**
   * Event-to-push split at the server's receive time (from the eventId, 1 ms resolution):
   * inbound = emit -> server append, outbound = append -> push arrival. Null when ids lack it.
   */
  splitMs: { inbound: SplitSummary; outbound: SplitSummary } | null;
  /** Event-to-push by second of the window (by emit time): shows whether the tail is steady or a few stalls. */
  perSecond: SecondSummary[];
  /** Per `groupOf` group: its sockets and its measured events. Empty without `groupOf`. */
  groups: Record<string, GroupResult>;
  /** Per URL (node): its sockets and its measured events. */
  perUrl: Record<string, GroupResult>;
}

export interface GroupResult {
  sockets: number;
  offered: number;
  acked: number;
  pushed: number;
  /** Sorted ms. */
  eventToPushMs: Float64Array;
}

export interface SplitSummary {
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface SecondSummary {
  second: number;
  sent: number;
  pushed: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

interface SentEvent {
  emittedAt: number;
  /** ms from the start of the measured window; negative during warmup. */
  windowOffsetMs: number;
  measured: boolean;
  ackMs: number | null;
  pushMs: number | null;
  /** The ack's error code, when it failed. */
  error: string | null;
  /** Wall clock (epoch ms) at emit, also sent as the event's sentAt. */
  sentAtEpoch: number;
  /** Server receive time (epoch ms) read from the eventId, when it has the `<ms>-<seq>` form. */
  serverAtEpoch: number | null;
  /** Wall clock (epoch ms) when the event's own push arrived. */
  pushAtEpoch: number | null;
  /** The sending socket's group and URL. */
  group: string;
  url: string;
}

interface Client {
  socket: Socket<ServerToClient, ClientToServer>;
  /** Acked, own push not seen yet; keyed by eventId, which is only unique per session. */
  awaitingPush: Map<string, SentEvent>;
  /** Push seen before its ack (the server may push first): eventId -> arrival time. */
  earlyPushes: Map<string, { at: number; epoch: number }>;
  lastCategory: number;
  url: string;
  group: string;
}

/** Counters shared by every client's handlers during one run. */
interface RunState {
  events: SentEvent[];
  acked: number;
  lastPushAt: number;
  pushes: number;
  disconnects: number;
}

const LOOP_DELAY_RESOLUTION_MS = 5;

/** The load every run of one bench invocation offers, single node or cluster alike. */
export function loadShape(args: Pick<BenchArgs, 'sockets' | 'rate' | 'seconds' | 'warmup' | 'connectBatch'>) {
  return {
    sockets: args.sockets,
    rate: args.rate,
    seconds: args.seconds,
    warmup: args.warmup,
    connectBatch: args.connectBatch,
    connectTimeoutMs: 15_000,
    drainMs: 5_000,
    // The same event sequence on every run.
    seed: 20261125,
  };
}

/** Demo item ids grouped by category, so a socket can hop category on every view. */
function itemsByCategory(): string[][] {
  const groups = new Map<string, string[]>();
  for (const item of demoCatalog()) {
    const group = groups.get(item.category);
    if (group) group.push(item.itemId);
    else groups.set(item.category, [item.itemId]);
  }
  return [...groups.values()];
}

function connectOne(url: string, sessionId: string, group: string, timeoutMs: number, state: RunState): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket: Socket<ServerToClient, ClientToServer> = io(url, {
      transports: ['websocket'],
      auth: { sessionId },
      // One TCP connection per client, like real browsers: without this the client multiplexes
      // every socket to the same URL over one Manager and one websocket.
      forceNew: true,
      // A dropped socket is counted, not retried: a reconnect storm would measure something else.
      reconnection: false,
      timeout: timeoutMs,
    });
    const client: Client = { socket, awaitingPush: new Map(), earlyPushes: new Map(), lastCategory: -1, url, group };
    let ready = false;
    const timer = setTimeout(() => fail(new Error(`no initial recommendations within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      socket.close();
      reject(err);
    };
    socket.on('connect_error', (err) => fail(err));
    socket.on('disconnect', (reason) => {
      if (!ready) fail(new Error(`disconnected before the initial list: ${reason}`));
      else if (reason !== 'io client disconnect') state.disconnects++;
    });
    socket.on('recommendations', (push) => {
      if (!ready) {
        ready = true;
        clearTimeout(timer);
        resolve(client);
        return;
      }
      onPush(client, push, state);
    });
  });
}

function onPush(client: Client, push: RecommendationsPush, state: RunState): void {
  const at = performance.now();
  const epoch = Date.now();
  state.pushes++;
  state.lastPushAt = at;
  const eventId = push.cause?.eventId;
  if (eventId === undefined) return;
  const sent = client.awaitingPush.get(eventId);
  if (sent) {
    sent.pushMs = at - sent.emittedAt;
    sent.pushAtEpoch = epoch;
    client.awaitingPush.delete(eventId);
  } else {
    client.earlyPushes.set(eventId, { at, epoch });
  }
}

function onAck(client: Client, sent: SentEvent, reply: AckReply, state: RunState): void {
  const at = performance.now();
  state.acked++;
  sent.ackMs = at - sent.emittedAt;
  if (!reply.ok || reply.eventId === undefined) {
    sent.error = reply.ok ? 'NO_EVENT_ID' : reply.error.code;
    return;
  }
  sent.serverAtEpoch = serverReceiveTime(reply.eventId);
  const early = client.earlyPushes.get(reply.eventId);
  if (early !== undefined) {
    sent.pushMs = early.at - sent.emittedAt;
    sent.pushAtEpoch = early.epoch;
    client.earlyPushes.delete(reply.eventId);
  } else {
    client.awaitingPush.set(reply.eventId, sent);
  }
}

/**
 * Attune's embedded log mints Redis-stream-style ids, `<receive epoch ms>-<seq>` (and the echo
 * baseline copies the form). Client and server share this machine's clock, so that ms splits
 * each event-to-push into inbound (emit -> server append) and outbound (append -> push arrival),
 * at 1 ms resolution: enough to tell which side a 50 ms stall is on.
 */
function serverReceiveTime(eventId: string): number | null {
  const match = /^(\d{12,})-\d+$/.exec(eventId);
  return match ? Number(match[1]) : null;
}

/** Connects `n` clients in batches, each waiting for its first `recommendations`. */
async function connectFleet(options: LoadOptions, state: RunState, hooks: LoadHooks): Promise<Client[]> {
  const runId = randomBytes(4).toString('hex');
  const clients: Client[] = [];
  const started = performance.now();
  // About ten progress lines however many sockets: one per batch would flood the terminal.
  const every = Math.max(options.connectBatch, Math.ceil(options.sockets / 10));
  let reported = 0;
  try {
    for (let first = 0; first < options.sockets; first += options.connectBatch) {
      const count = Math.min(options.connectBatch, options.sockets - first);
      const batch = await Promise.allSettled(
        Array.from({ length: count }, (_, i) => {
          const index = first + i;
          const sessionId = `bench-${runId}-${index}`;
          const url = options.urls === undefined || options.urls.length === 0 ? options.url : options.urls[index % options.urls.length];
          const group = options.groupOf?.({ index, sessionId, url }) ?? '';
          return connectOne(url, sessionId, group, options.connectTimeoutMs, state);
        }),
      );
      for (const outcome of batch) if (outcome.status === 'fulfilled') clients.push(outcome.value);
      const failed = batch.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed) {
        const why = failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
        const index = first + batch.indexOf(failed);
        const url = options.urls === undefined || options.urls.length === 0 ? options.url : options.urls[index % options.urls.length];
        throw new SetupError(`[${options.label}] socket ${index} failed to connect to ${url}: ${why}`);
      }
      if (clients.length - reported >= every || clients.length === options.sockets) {
        reported = clients.length;
        hooks.progress(`[${options.label}] connected ${clients.length}/${options.sockets} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      }
    }
  } catch (err) {
    disconnectFleet(clients);
    throw err;
  }
  return clients;
}

function disconnectFleet(clients: readonly Client[]): void {
  for (const client of clients) client.socket.disconnect();
}

/**
 * Sends events open-loop on a wall-clock schedule: every tick (setTimeout 1 ms) emits the events
 * whose time has come. A late tick catches up by at most `maxBurst` events; slots further behind
 * are dropped and counted, so a stalled generator never turns into an unbounded burst that would
 * measure its own backlog instead of the server.
 */
async function drive(clients: readonly Client[], options: LoadOptions, state: RunState, hooks: LoadHooks): Promise<{ skipped: number; windowMs: number; maxTickGapMs: number; loopDelay: LoadResult['benchLoopDelayMs'] }> {
  const random = seededRandom(options.seed);
  const categories = itemsByCategory();
  const total = Math.round(options.rate * (options.warmup + options.seconds));
  const maxBurst = Math.max(1, Math.ceil(options.rate * 0.02));
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  const start = performance.now();
  const windowStart = start + options.warmup * 1000;
  const end = windowStart + options.seconds * 1000;
  let scheduled = 0;
  let skipped = 0;
  let inWindow = false;
  let windowStartedAt = 0;
  let lastTick = start;
  let maxTickGapMs = 0;
  let nextSecond = 1;
  let next = 0;

  const emitOne = (now: number): void => {
    const client = clients[next++ % clients.length];
    // A dropped socket (counted in `disconnects`) would only buffer the event client-side.
    if (!client.socket.connected) return;
    // Always a different category than this socket's last view, so its top-N keeps moving.
    const category = (client.lastCategory + 1 + Math.floor(random() * (categories.length - 1))) % categories.length;
    client.lastCategory = category;
    const items = categories[category];
    const sentAtEpoch = Date.now();
    const event: BenchEvent = { eventType: 'view', itemId: items[Math.floor(random() * items.length)], sentAt: sentAtEpoch };
    // Timed from the tick that sends it: the generator's own lateness is reported on its own
    // (maxTickGapMs, skipped, benchLoopDelayMs) rather than folded into every event.
    const sent: SentEvent = {
      emittedAt: now,
      windowOffsetMs: now - windowStart,
      measured: inWindow,
      ackMs: null,
      pushMs: null,
      error: null,
      sentAtEpoch,
      serverAtEpoch: null,
      pushAtEpoch: null,
      group: client.group,
      url: client.url,
    };
    state.events.push(sent);
    client.socket.emit('event', event, (reply) => onAck(client, sent, reply, state));
  };

  while (scheduled < total) {
    const now = performance.now();
    if (now >= end) break;
    if (!inWindow && now >= windowStart) {
      inWindow = true;
      windowStartedAt = now;
      loopDelay.enable();
      maxTickGapMs = 0;
      hooks.windowStart();
    }
    if (inWindow) maxTickGapMs = Math.max(maxTickGapMs, now - lastTick);
    lastTick = now;
    const due = Math.min(total, Math.floor(((now - start) * options.rate) / 1000));
    let count = due - scheduled;
    if (count > maxBurst) {
      if (inWindow) skipped += count - maxBurst;
      scheduled += count - maxBurst;
      count = maxBurst;
    }
    for (let i = 0; i < count; i++) emitOne(now);
    scheduled += count;
    if ((now - start) / 1000 >= nextSecond) {
      const extra = hooks.second(nextSecond);
      hooks.progress(`[${options.label}] ${nextSecond}s/${options.warmup + options.seconds}s${inWindow ? '' : ' (warmup)'}: sent ${state.events.length}, acked ${state.acked}, pushes ${state.pushes}${extra}`);
      nextSecond++;
    }
    await sleep(1);
  }
  const windowMs = inWindow ? performance.now() - windowStartedAt : 0;
  loopDelay.disable();
  if (inWindow) hooks.windowEnd();
  // The histogram records whole timer intervals: what lies beyond the resolution is the delay.
  const ms = (ns: number): number => round(Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS));
  return {
    skipped,
    windowMs,
    maxTickGapMs: round(maxTickGapMs),
    loopDelay: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
  };
}

/** Waits for outstanding acks, then for pushes to go quiet; bounded by `drainMs`. */
async function drain(state: RunState, drainMs: number): Promise<void> {
  const deadline = performance.now() + drainMs;
  const quietMs = 300;
  while (performance.now() < deadline) {
    const now = performance.now();
    if (state.acked >= state.events.length && now - state.lastPushAt >= quietMs) return;
    await sleep(20);
  }
}

export async function runLoad(options: LoadOptions, hooks: LoadHooks): Promise<LoadResult> {
  const state: RunState = { events: [], acked: 0, lastPushAt: 0, pushes: 0, disconnects: 0 };
  const clients = await connectFleet(options, state, hooks);
  try {
    const driven = await drive(clients, options, state, hooks);
    hooks.progress(`[${options.label}] draining (${state.events.length - state.acked} acks outstanding)`);
    await drain(state, options.drainMs);
    return tally(state, driven, clients, options.groupOf !== undefined);
  } finally {
    disconnectFleet(clients);
  }
}

function tally(state: RunState, driven: Awaited<ReturnType<typeof drive>>, clients: readonly Client[], grouped: boolean): LoadResult {
  const measured = state.events.filter((e) => e.measured);
  const acked = measured.filter((e) => e.ackMs !== null);
  const ok = acked.filter((e) => e.error === null);
  const errorCodes: Record<string, number> = {};
  for (const e of acked) if (e.error !== null) errorCodes[e.error] = (errorCodes[e.error] ?? 0) + 1;
  const pushMs = ok.flatMap((e) => (e.pushMs === null ? [] : [e.pushMs]));
  return {
    offered: measured.length,
    skipped: driven.skipped,
    windowMs: driven.windowMs,
    acked: acked.length,
    ackErrors: acked.length - ok.length,
    ackErrorCodes: errorCodes,
    unacked: measured.length - acked.length,
    pushed: pushMs.length,
    unchanged: ok.length - pushMs.length,
    eventToPushMs: sortedCopy(pushMs),
    ackMs: sortedCopy(acked.map((e) => e.ackMs ?? 0)),
    disconnects: state.disconnects,
    benchLoopDelayMs: driven.loopDelay,
    maxTickGapMs: driven.maxTickGapMs,
    perSecond: perSecond(measured),
    splitMs: split(ok),
    groups: grouped ? groupBy(measured, clients, (x) => x.group) : {},
    perUrl: groupBy(measured, clients, (x) => x.url),
  };
}

function groupBy(measured: readonly SentEvent[], clients: readonly Client[], by: (x: { group: string; url: string }) => string): Record<string, GroupResult> {
  const groups: Record<string, { sockets: number; offered: number; acked: number; latencies: number[] }> = {};
  const entry = (name: string): { sockets: number; offered: number; acked: number; latencies: number[] } => (groups[name] ??= { sockets: 0, offered: 0, acked: 0, latencies: [] });
  for (const client of clients) entry(by(client)).sockets++;
  for (const e of measured) {
    const group = entry(by(e));
    group.offered++;
    if (e.ackMs !== null && e.error === null) group.acked++;
    if (e.error === null && e.pushMs !== null) group.latencies.push(e.pushMs);
  }
  return Object.fromEntries(
    Object.entries(groups).map(([name, g]) => [name, { sockets: g.sockets, offered: g.offered, acked: g.acked, pushed: g.latencies.length, eventToPushMs: sortedCopy(g.latencies) }]),
  );
}

function split(events: readonly SentEvent[]): LoadResult['splitMs'] {
  const inbound: number[] = [];
  const outbound: number[] = [];
  for (const e of events) {
    if (e.serverAtEpoch === null || e.pushAtEpoch === null) continue;
    inbound.push(e.serverAtEpoch - e.sentAtEpoch);
    outbound.push(e.pushAtEpoch - e.serverAtEpoch);
  }
  if (inbound.length === 0) return null;
  const brief = (values: number[]): SplitSummary => {
    const { p50, p99, max } = summarize(sortedCopy(values));
    return { p50, p99, max };
  };
  return { inbound: brief(inbound), outbound: brief(outbound) };
}

function perSecond(measured: readonly SentEvent[]): SecondSummary[] {
  const buckets: SentEvent[][] = [];
  for (const e of measured) {
    const second = Math.max(0, Math.floor(e.windowOffsetMs / 1000));
    (buckets[second] ??= []).push(e);
  }
  return Array.from(buckets, (events = [], second) => {
    const sorted = sortedCopy(events.flatMap((e) => (e.pushMs === null ? [] : [e.pushMs])));
    const summary = summarize(sorted);
    return { second, sent: events.length, pushed: sorted.length, p50: summary.p50, p99: summary.p99, max: summary.max };
  });
}
