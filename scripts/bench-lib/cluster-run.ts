import { join } from 'node:path';
import { sessionKey } from '../../src/session/events.js';
import { ensureDemoModel } from '../../src/training/demo-model.js';
import { shardOf } from '../../src/store/shard.js';
import type { BenchArgs } from './args.js';
import { startNode, type NodeProcess } from '../harness/nodes.js';
import { waitForSettled } from '../harness/ownership.js';
import { assertPortFree, freePort } from '../harness/ports.js';
import { startRedis, type RedisServer } from '../harness/redis-server.js';
import { SetupError } from '../harness/setup-error.js';
import { commandCalls, commandsPerEvent, type CommandCalls, type CommandsPerEvent, type IdleReading } from './redis-stats.js';
import { loadShape, runLoad, type GroupResult } from './load.js';
import { processCpuMs, UsageWindow } from './proc-stats.js';
import { scrape, serverView, type Scrape, type ServerView } from './prom.js';
import { SCRIPTS_MASTER_KEY, UNLIMITED_RATE_ARGS } from './security.js';
import { toReport, type RunReport } from './report.js';
import { round, roundOrNull, summarize, type LatencySummary } from './stats.js';

/** How long the idle cluster's Redis commands are counted before the load. */
const IDLE_READING_MS = 5000;
export const CROSS = 'cross-node';
export const SAME = 'same-node';

export interface GroupReport {
  sockets: number;
  offered: number;
  acked: number;
  pushed: number;
  eventToPushMs: LatencySummary;
}

export interface NodeReport {
  nodeId: string;
  url: string;
  shards: number;
  /** Sockets connected to this node, and event-to-push of their events (whoever owned the key). */
  sockets: number;
  eventToPushMs: LatencySummary;
  cpuMs: number | null;
  cpuPercent: number | null;
  /** This node's CPU over the window divided by ALL events of the window: its share of each event. */
  cpuMsPerEvent: number | null;
  rssMB: number | null;
  rssPeakMB: number | null;
  /** The node's own /metrics over the window. */
  serverMetrics: ServerView | null;
}

export interface ClusterReport extends RunReport {
  nodes: number;
  shards: number;
  leaseTtlMs: number;
  /** Events of sockets whose node is not the owner of the session's shard: the push crosses nodes through Redis. */
  crossNode: GroupReport;
  sameNode: GroupReport;
  throughput: { ackedPerSec: number; pushesPerSec: number };
  perNode: NodeReport[];
  redis: { cpuMs: number | null; cpuPercent: number | null; cpuMsPerEvent: number | null; rssMB: number | null; commandsPerEvent: CommandsPerEvent | null };
  /** Nodes + Redis CPU per event: what one event costs the cluster, in ms of one core. */
  clusterCpuMsPerEvent: number | null;
  /** CPU the nodes and Redis used per second with no load (lease renewals, heartbeats, timers), from the idle reading. */
  idleCpuMsPerSecond: number | null;
  /** `clusterCpuMsPerEvent` less the idle rate over the window: the CPU that grows with the event rate. */
  eventPathCpuMsPerEvent: number | null;
  /** 1000 / clusterCpuMsPerEvent: events per second one fully used core sustains, at this load. */
  eventsPerSecPerCore: number | null;
  /** Ownership changes logged during the measured window (0 expected: a stable cluster). */
  ownershipChangesInWindow: number;
}

export interface ClusterRun {
  report: ClusterReport;
  latencies: Float64Array;
  crossLatencies: Float64Array;
}

/**
 * Starts a private Redis and `args.nodes` Attune nodes on it (children, like the single-node
 * run), waits until they settle on one owner per shard, then runs the same open-loop load with
 * the sockets round-robin over the nodes. Each socket is classified by the nodes' own ownership
 * log lines: cross-node when its node is not the owner of its session's shard.
 */
export async function runCluster(
  root: string,
  args: BenchArgs,
  outDir: string,
  stamp: string,
  progress: (line: string) => void,
  track: { add(stop: () => Promise<unknown>, kill: () => void, phase: number): () => void },
): Promise<ClusterRun> {
  const base = args.portBase === null ? null : args.portBase + 2;
  const pick = async (offset: number): Promise<number> => {
    if (base === null) return freePort();
    await assertPortFree(base + offset);
    return base + offset;
  };
  const modelDir = await ensureDemoModel(join(root, 'var'), () => {});
  const redisPort = await pick(0);
  progress(`starting a private redis-server on 127.0.0.1:${redisPort}`);
  const redis: RedisServer = await startRedis({ port: redisPort });
  const untrackRedis = track.add(() => redis.stop(), () => redis.kill('SIGKILL'), 1);
  const nodes: NodeProcess[] = [];
  const untrack: Array<() => void> = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < args.nodes; i++) ports.push(await pick(1 + i));
    progress(`starting ${args.nodes} attune nodes on ${redis.url} (ports ${ports.join(', ')}, ${args.shards} shards, lease ${args.leaseTtlMs} ms)`);
    // One at a time: starts in parallel only fight over the cores, and the order is reproducible.
    for (const [i, port] of ports.entries()) {
      const node = await startNode({
        nodeId: `node-${i}`,
        entry: 'built',
        port,
        redisUrl: redis.url,
        masterKey: SCRIPTS_MASTER_KEY,
        serveArgs: ['--shards', String(args.shards), '--lease-ttl-ms', String(args.leaseTtlMs), '--model', modelDir, '--demo-catalog', ...UNLIMITED_RATE_ARGS],
        nodeArgs: [...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(outDir, 'profiles')}`] : []), ...args.nodeArgs],
        logFile: join(outDir, `bench-${stamp}-node-${i}.log`),
        readyTimeoutMs: 60_000,
      });
      nodes.push(node);
      untrack.push(track.add(() => node.stop(5000), () => node.kill('SIGKILL'), 0));
    }
    const owners = await waitForSettled(nodes, args.shards, args.leaseTtlMs * 6 + 10_000);
    const shardsPerNode = nodes.map((n) => `${n.nodeId}=${n.ownedShards().length}`).join(' ');
    progress(`settled: shards per node ${shardsPerNode}`);
    // What the cluster asks of Redis with no events at all (lease renewals, heartbeats), so the window's counts can be split into that and the event path.
    progress(`reading redis commands of the idle cluster for ${IDLE_READING_MS / 1000} s`);
    const idlePids = [...nodes.map((n) => n.pid), redis.process.pid];
    const idleBefore = await commandCalls(redis.url);
    const idleCpuBefore = idlePids.map((pid) => processCpuMs(pid));
    const idleStartedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_READING_MS));
    const idleCpuAfter = idlePids.map((pid) => processCpuMs(pid));
    const idleAfter = await commandCalls(redis.url);
    const idleCpuMs = idleCpuBefore.every((c) => c !== null) && idleCpuAfter.every((c) => c !== null) ? idleCpuAfter.reduce<number>((sum, c, i) => sum + (c ?? 0) - (idleCpuBefore[i] ?? 0), 0) : null;
    const idleCpuMsPerSecond = idleCpuMs === null ? null : round(idleCpuMs / ((performance.now() - idleStartedAt) / 1000), 1);
    const idle: IdleReading | null = idleBefore === null || idleAfter === null ? null : { before: idleBefore, after: idleAfter, seconds: (performance.now() - idleStartedAt) / 1000 };
    const nodeOfUrl = new Map(nodes.map((n) => [n.url, n.nodeId]));
    const groupOf = ({ sessionId, url }: { sessionId: string; url: string }): string => (owners.get(shardOf(sessionKey(sessionId), args.shards)) === nodeOfUrl.get(url) ? SAME : CROSS);

    const usage = new UsageWindow([...nodes.map((n) => n.pid), redis.process.pid]);
    let usageResult: ReturnType<UsageWindow['finish']> | null = null;
    let windowStartedAt = 0;
    let windowEndedAt = 0;
    let commandsBefore: Promise<CommandCalls | null> = Promise.resolve(null);
    let commandsAfter: Promise<CommandCalls | null> = Promise.resolve(null);
    let before: Promise<Array<Scrape | null>> = Promise.resolve([]);
    let after: Promise<Array<Scrape | null>> = Promise.resolve([]);
    let lastCpu = nodes.map((n) => processCpuMs(n.pid));
    let lastAt = performance.now();
    const result = await runLoad(
      {
        label: `cluster x${args.nodes}`,
        url: nodes[0].url,
        urls: nodes.map((n) => n.url),
        groupOf,
        ...loadShape(args),
      },
      {
        progress,
        windowStart: () => {
          windowStartedAt = Date.now();
          usage.start();
          before = Promise.all(nodes.map((n) => scrape(n.url)));
          commandsBefore = commandCalls(redis.url);
        },
        windowEnd: () => {
          windowEndedAt = Date.now();
          usageResult = usage.finish();
          after = Promise.all(nodes.map((n) => scrape(n.url)));
          commandsAfter = commandCalls(redis.url);
        },
        second: () => {
          usage.sampleRss();
          const cpu = nodes.map((n) => processCpuMs(n.pid));
          const now = performance.now();
          const percents = cpu.map((c, i) => {
            const last = lastCpu[i];
            return c === null || last === null ? '?' : (((c - last) / (now - lastAt)) * 100).toFixed(0);
          });
          lastCpu = cpu;
          lastAt = now;
          return `, node cpu ${percents.join('/')}%`;
        },
      },
    );
    for (const node of nodes) {
      if (!node.alive) throw new SetupError(`${node.nodeId} died during the run; its output:\n${node.tail()}`);
    }
    const [scrapesBefore, scrapesAfter, callsBefore, callsAfter] = await Promise.all([before, after, commandsBefore, commandsAfter]);
    const finished = usageResult as ReturnType<UsageWindow['finish']> | null;
    const common = toReport(result, finished);
    const events = result.offered;
    const seconds = result.windowMs / 1000;
    const perEvent = (ms: number | null): number | null => (ms === null || events === 0 ? null : round(ms / events, 4));
    const percent = (ms: number | null): number | null => (ms === null || finished === null || finished.wallMs <= 0 ? null : round((ms / finished.wallMs) * 100, 1));
    const group = (g: GroupResult | undefined): GroupReport => ({
      sockets: g?.sockets ?? 0,
      offered: g?.offered ?? 0,
      acked: g?.acked ?? 0,
      pushed: g?.pushed ?? 0,
      eventToPushMs: summarize(g?.eventToPushMs ?? new Float64Array()),
    });
    const perNode: NodeReport[] = nodes.map((node, i) => {
      const used = finished?.perServer[i];
      const b = scrapesBefore[i] ?? null;
      const a = scrapesAfter[i] ?? null;
      const mine = result.perUrl[node.url];
      return {
        nodeId: node.nodeId,
        url: node.url,
        shards: node.ownedShards().length,
        sockets: mine?.sockets ?? 0,
        eventToPushMs: summarize(mine?.eventToPushMs ?? new Float64Array()),
        cpuMs: roundOrNull(used?.cpuMs ?? null, 0),
        cpuPercent: percent(used?.cpuMs ?? null),
        cpuMsPerEvent: perEvent(used?.cpuMs ?? null),
        rssMB: roundOrNull(used?.rssMB ?? null, 1),
        rssPeakMB: roundOrNull(used?.rssPeakMB ?? null, 1),
        serverMetrics: b !== null && a !== null ? serverView(b, a) : null,
      };
    });
    const redisUsed = finished?.perServer[nodes.length];
    const clusterCpuMsPerEvent = perEvent(finished?.serverCpuMs ?? null);
    const changes = nodes.flatMap((n) => n.ownership).filter((c) => c.time >= windowStartedAt && c.time <= windowEndedAt).length;
    const report: ClusterReport = {
      ...common,
      nodes: args.nodes,
      shards: args.shards,
      leaseTtlMs: args.leaseTtlMs,
      crossNode: group(result.groups[CROSS]),
      sameNode: group(result.groups[SAME]),
      throughput: {
        ackedPerSec: seconds > 0 ? round((result.acked - result.ackErrors) / seconds, 1) : 0,
        pushesPerSec: seconds > 0 ? round(result.pushed / seconds, 1) : 0,
      },
      perNode,
      redis: { cpuMs: roundOrNull(redisUsed?.cpuMs ?? null, 0), cpuPercent: percent(redisUsed?.cpuMs ?? null), cpuMsPerEvent: perEvent(redisUsed?.cpuMs ?? null), rssMB: roundOrNull(redisUsed?.rssMB ?? null, 1), commandsPerEvent: callsBefore === null || callsAfter === null ? null : commandsPerEvent(callsBefore, callsAfter, events, seconds, idle) },
      clusterCpuMsPerEvent,
      idleCpuMsPerSecond,
      eventPathCpuMsPerEvent: clusterCpuMsPerEvent === null || idleCpuMsPerSecond === null ? null : round(clusterCpuMsPerEvent - (idleCpuMsPerSecond * seconds) / events, 4),
      eventsPerSecPerCore: clusterCpuMsPerEvent === null || clusterCpuMsPerEvent === 0 ? null : round(1000 / clusterCpuMsPerEvent, 0),
      ownershipChangesInWindow: changes,
    };
    return { report, latencies: result.eventToPushMs, crossLatencies: result.groups[CROSS]?.eventToPushMs ?? new Float64Array() };
  } finally {
    // Nodes first (each hands its shards off through Redis), then Redis.
    await Promise.all(nodes.map((node) => node.stop(10_000)));
    for (const done of untrack) done();
    await redis.stop();
    untrackRedis();
  }
}
