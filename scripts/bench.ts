/**
 * End-to-end benchmark of Attune's socket path: N socket.io clients on loopback, an open-loop
 * stream of `view` events at a fixed rate, and per event the time from emit to the
 * `recommendations` push it caused. The same load then runs against a bare socket.io echo server,
 * so the numbers can be read against the floor that socket.io, JSON and loopback TCP set.
 *
 * With `--nodes N` it first runs the same load against N nodes on a private Redis, sockets
 * round-robin over the nodes, and reports event-to-push for all events and for cross-node ones
 * (the socket's node does not own the session's shard), throughput, and CPU per event per node;
 * the single-node run that follows is its baseline.
 *
 * usage: npm run bench -- [--sockets 1000] [--rate 2000] [--seconds 20] [--warmup 3] [--baseline=false] [--nodes 3]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { ArgsError, parseArgs, USAGE, type BenchArgs } from './bench-lib/args.js';
import { runCluster, type ClusterReport, type ClusterRun } from './bench-lib/cluster-run.js';
import { loadShape, runLoad } from './bench-lib/load.js';
import { processCpuMs, processRssMB, UsageWindow } from './bench-lib/proc-stats.js';
import { scrape, serverView, type Scrape } from './bench-lib/prom.js';
import { toReport, type RunReport } from './bench-lib/report.js';
import { DEV_SERVE_ARGS, UNLIMITED_RATE_ARGS } from './bench-lib/security.js';
import { ratio } from './bench-lib/stats.js';
import { describeChecks, scaleOutVerdict, type ScaleOutVerdict } from './bench-lib/targets.js';
import { latencySvg } from './bench-lib/svg.js';
import { assertPortFree, freePort } from './harness/ports.js';
import { repoRoot } from './harness/repo-root.js';
import { ServerProcess, spawnTracked, waitUntilAnswering } from './harness/server-process.js';
import { SetupError } from './harness/setup-error.js';

const TARGET = { p99Ms: 10, rate: 2000, sockets: 1000 } as const;
const STARTUP_TIMEOUT_MS = 60_000;

interface Run {
  report: RunReport;
  latencies: Float64Array;
}

/** Which code was measured: the commit, and whether src/ had uncommitted or untracked files. */
function gitState(root: string): { commit: string; srcDirty: boolean } | null {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', '--short', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return null;
  }
}

function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** A server under test on loopback, in its own process so it gets its own core and its own event loop. */
interface ServerChild {
  process: ServerProcess;
  url: string;
}

/** Children alive right now: killed on any way out, so no server outlives the bench. */
const liveChildren = new Set<ServerChild>();
/** The cluster run's processes: how to stop each gently, and at once; phase 0 (nodes) stops before phase 1 (Redis). */
const liveOthers = new Set<{ stop: () => Promise<unknown>; kill: () => void; phase: number }>();
const tracker = {
  add(stop: () => Promise<unknown>, kill: () => void, phase: number): () => void {
    const entry = { stop, kill, phase };
    liveOthers.add(entry);
    return () => liveOthers.delete(entry);
  },
};
process.on('exit', () => {
  for (const child of liveChildren) child.process.kill('SIGKILL');
  for (const other of liveOthers) other.kill();
});

/** Starts `node <args>` on 127.0.0.1:`port` and resolves once its /healthz answers 200; its whole output goes to `logFile`. */
async function startServerChild(name: string, args: readonly string[], port: number, root: string, logFile: string): Promise<ServerChild> {
  const server = new ServerProcess(name, spawnTracked({ args, cwd: root }), { logFile });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(server, url, '/healthz', STARTUP_TIMEOUT_MS);
  return { process: server, url };
}

async function withServer<T>(start: () => Promise<ServerChild>, use: (child: ServerChild) => Promise<T>): Promise<T> {
  const child = await start();
  liveChildren.add(child);
  try {
    return await use(child);
  } finally {
    await child.process.stop(5000);
    liveChildren.delete(child);
  }
}

/** The given port (checked free) or, without one, a free port. */
async function choosePort(given: number | null): Promise<number> {
  if (given === null) return freePort();
  await assertPortFree(given);
  return given;
}

/** Runs the load against one started server, sampling its CPU, RSS and (for Attune) metrics. */
async function measure(label: string, child: ServerChild, args: BenchArgs, withMetrics: boolean): Promise<Run> {
  const usage = new UsageWindow(child.process.pid);
  let usageResult: ReturnType<UsageWindow['finish']> | null = null;
  let before: Promise<Scrape | null> = Promise.resolve(null);
  let after: Promise<Scrape | null> = Promise.resolve(null);
  let lastCpu = processCpuMs(child.process.pid);
  let lastAt = performance.now();

  const result = await runLoad(
    {
      label,
      url: child.url,
      ...loadShape(args),
    },
    {
      progress,
      windowStart: () => {
        usage.start();
        if (withMetrics) before = scrape(child.url);
      },
      windowEnd: () => {
        usageResult = usage.finish();
        if (withMetrics) after = scrape(child.url);
      },
      second: () => {
        usage.sampleRss();
        const cpu = processCpuMs(child.process.pid);
        const now = performance.now();
        const percent = cpu === null || lastCpu === null ? null : ((cpu - lastCpu) / (now - lastAt)) * 100;
        lastCpu = cpu;
        lastAt = now;
        const rss = processRssMB(child.process.pid);
        return `, server cpu ${percent === null ? '?' : percent.toFixed(0)}%, rss ${rss === null ? '?' : rss.toFixed(0)} MB`;
      },
    },
  );
  if (!child.process.alive) {
    throw new SetupError(`${label} server died during the run; its output:\n${child.process.tail()}`);
  }
  const [scrapeBefore, scrapeAfter] = await Promise.all([before, after]);
  const report = toReport(result, usageResult);
  if (withMetrics) report.serverMetrics = scrapeBefore && scrapeAfter ? serverView(scrapeBefore, scrapeAfter) : null;
  return { report, latencies: result.eventToPushMs };
}

async function runAttune(root: string, args: BenchArgs, outDir: string, stamp: string): Promise<Run> {
  const port = await choosePort(args.portBase);
  const nodeArgs = [...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(outDir, 'profiles')}`] : []), ...args.nodeArgs];
  progress(`starting attune on 127.0.0.1:${port}${nodeArgs.length > 0 ? ` (node ${nodeArgs.join(' ')})` : ''}`);
  return withServer(
    () =>
      startServerChild(
        'attune',
        // Development mode: the load's sockets connect with bare sessionIds.
        [...nodeArgs, join(root, 'bin', 'attune.js'), 'serve', '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn', '--data-dir', join(root, 'var'), ...DEV_SERVE_ARGS, ...UNLIMITED_RATE_ARGS],
        port,
        root,
        join(outDir, `bench-${stamp}-attune.log`),
      ),
    (child) => measure('attune', child, args, true),
  );
}

async function runBaseline(root: string, args: BenchArgs, outDir: string, stamp: string): Promise<Run> {
  const port = await choosePort(args.portBase === null ? null : args.portBase + 1);
  const script = join(root, 'dist', 'scripts', 'echo-server.js');
  if (!existsSync(script)) throw new SetupError(`${script} is missing: run npm run build first`);
  progress(`starting echo baseline on 127.0.0.1:${port}`);
  return withServer(
    () =>
      startServerChild('baseline', [script, '--port', String(port), '--host', '127.0.0.1'], port, root, join(outDir, `bench-${stamp}-baseline.log`)),
    (child) => measure('baseline', child, args, false),
  );
}

function targetVerdict(args: BenchArgs, attune: RunReport): { p99Ms: number; rate: number; sockets: number; met: boolean; why: string } {
  const p99 = attune.eventToPushMs.p99;
  const problems: string[] = [];
  if (args.sockets < TARGET.sockets) problems.push(`ran ${args.sockets} sockets < ${TARGET.sockets}`);
  if (attune.achievedRate < TARGET.rate * 0.99) problems.push(`achieved ${attune.achievedRate} ev/s < ${TARGET.rate}`);
  if (p99 === null) problems.push('no pushes measured');
  else if (p99 > TARGET.p99Ms) problems.push(`p99 ${p99} ms > ${TARGET.p99Ms} ms`);
  if (attune.ackErrors > 0 || attune.unacked > 0) problems.push(`${attune.ackErrors} ack errors, ${attune.unacked} unacked`);
  return { ...TARGET, met: problems.length === 0, why: problems.length === 0 ? 'ok' : problems.join('; ') };
}

/** Conditions that make a run's numbers untrustworthy, in words, so nobody quotes them blind. */
function warnings(label: string, run: RunReport): string[] {
  const found: string[] = [];
  const others = run.machine?.othersPercent ?? null;
  if (others !== null && others > 10) {
    found.push(`${label}: other processes used ${others}% of a core during the window; latencies include their interference`);
  }
  if ((run.machine?.stealPercent ?? 0) > 5) found.push(`${label}: hypervisor steal ${run.machine?.stealPercent}% of a core`);
  if (run.skipped > 0) found.push(`${label}: the generator fell behind and dropped ${run.skipped} scheduled events`);
  if (run.benchLoopDelayMs.p99 > 5) found.push(`${label}: the bench's own event loop lagged (p99 ${run.benchLoopDelayMs.p99} ms); client-side delay is in the latencies`);
  if (run.disconnects > 0) found.push(`${label}: ${run.disconnects} sockets dropped during the run`);
  return found;
}

/** Issue 12's targets, from the cluster run and the single node and echo runs beside it. */
function clusterVerdict(cluster: ClusterReport, single: RunReport, echo: RunReport | null): ScaleOutVerdict {
  const commands = cluster.redis.commandsPerEvent;
  return scaleOutVerdict({
    achievedRate: cluster.achievedRate,
    crossNodeP99Ms: cluster.crossNode.eventToPushMs.p99,
    clusterCpuMsPerEvent: cluster.clusterCpuMsPerEvent,
    singleCpuMsPerEvent: single.serverCpuMsPerEvent,
    echoCpuMsPerEvent: echo?.serverCpuMsPerEvent ?? null,
    commandsPerEvent: commands === null ? null : (commands.eventPath ?? commands.excludingSnapshots),
    failedEvents: cluster.ackErrors + cluster.unacked,
  });
}

function clusterWarnings(cluster: ClusterReport): string[] {
  const found = warnings(`cluster x${cluster.nodes}`, cluster);
  if (cluster.ownershipChangesInWindow > 0) found.push(`cluster: ${cluster.ownershipChangesInWindow} shard ownership changes during the window (a node missed its lease renewals?)`);
  const busy = cluster.machine?.busyPercent ?? null;
  if (busy !== null && busy > 180) found.push(`cluster: the machine was ${busy}% busy (of ${cpus().length * 100}%): the nodes, Redis and the load generator share too few cores; latencies include queueing for CPU`);
  return found;
}

function clusterLine(cluster: ClusterReport, single: RunReport, verdict: ScaleOutVerdict): string {
  const ms = (v: number | null): string => (v === null ? '?' : `${v.toFixed(v < 10 ? 2 : 1)}ms`);
  const all = cluster.eventToPushMs;
  const cross = cluster.crossNode.eventToPushMs;
  const same = cluster.sameNode.eventToPushMs;
  const nodesCpu = cluster.perNode.map((n) => n.cpuMsPerEvent ?? '?').join('/');
  const commands = cluster.redis.commandsPerEvent;
  return (
    `cluster x${cluster.nodes} event-to-push p50 ${ms(all.p50)} p99 ${ms(all.p99)}; cross-node p50 ${ms(cross.p50)} p99 ${ms(cross.p99)} (${cluster.crossNode.sockets} sockets), ` +
    `same-node p50 ${ms(same.p50)} p99 ${ms(same.p99)}; ${cluster.throughput.ackedPerSec.toFixed(0)} ev/s acked, ${cluster.throughput.pushesPerSec.toFixed(0)} pushes/s; ` +
    `cpu ms/event per node ${nodesCpu}, redis ${cluster.redis.cpuMsPerEvent ?? '?'}, cluster ${cluster.clusterCpuMsPerEvent ?? '?'} (~${cluster.eventsPerSecPerCore ?? '?'} ev/s per core; ${cluster.eventPathCpuMsPerEvent ?? '?'} on the event path, idle cluster ${cluster.idleCpuMsPerSecond ?? '?'} ms/s); ` +
    `redis commands/event ${commands === null ? '?' : `${commands.total} (${commands.excludingSnapshots} without snapshots; on the event path ${commands.eventPath ?? '?'}: ${Object.entries(commands.eventPathByCommand ?? commands.byCommand).slice(0, 7).map(([c, n]) => `${c} ${n}`).join(', ')}; idle cluster ${commands.idlePerSecond ?? '?'}/s)`}; ` +
    `single node p50 ${ms(single.eventToPushMs.p50)} p99 ${ms(single.eventToPushMs.p99)} (cross-node p99 ratio ${ratio(cross.p99, single.eventToPushMs.p99) ?? '?'}x, cpu/event ratio ${ratio(cluster.clusterCpuMsPerEvent, single.serverCpuMsPerEvent) ?? '?'}x); ` +
    `scale-out targets ${verdict.met ? 'met' : 'NOT met'}: ${describeChecks(verdict)}`
  );
}

function summaryLine(args: BenchArgs, attune: RunReport, baseline: RunReport | null, met: boolean): string {
  const ms = (v: number | null): string => (v === null ? '?' : `${v.toFixed(v < 10 ? 2 : 1)}ms`);
  const e2p = attune.eventToPushMs;
  let line = `attune event-to-push p50 ${ms(e2p.p50)} p99 ${ms(e2p.p99)} at ${attune.achievedRate.toFixed(0)} ev/s over ${args.sockets} sockets (server cpu ${attune.serverCpuPercent ?? '?'}%)`;
  if (baseline) {
    const r = ratio(e2p.p99, baseline.eventToPushMs.p99);
    line += `; echo baseline p50 ${ms(baseline.eventToPushMs.p50)} p99 ${ms(baseline.eventToPushMs.p99)} (p99 ratio ${r ?? '?'}x)`;
  }
  return `${line}; target p99<=${TARGET.p99Ms}ms at ${TARGET.rate} ev/s: ${met ? 'met' : 'NOT met'}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const root = repoRoot();
  const outDir = join(root, 'var', 'bench');
  await mkdir(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');

  const cluster: ClusterRun | null = args.nodes > 0 ? await runCluster(root, args, outDir, stamp, progress, tracker) : null;
  const attune = await runAttune(root, args, outDir, stamp);
  const baseline = args.baseline ? await runBaseline(root, args, outDir, stamp) : null;

  const target = targetVerdict(args, attune.report);
  const clusterTarget = cluster === null ? null : clusterVerdict(cluster.report, attune.report, baseline?.report ?? null);
  const cpuInfo = cpus();
  const report = {
    config: {
      sockets: args.sockets,
      rate: args.rate,
      seconds: args.seconds,
      warmup: args.warmup,
      serverNodeArgs: args.nodeArgs,
      nodes: args.nodes,
      ...(args.nodes > 0 ? { shards: args.shards, leaseTtlMs: args.leaseTtlMs } : {}),
      node: process.version,
      cpus: cpuInfo.length,
      cpuModel: cpuInfo[0]?.model ?? null,
      platform: `${process.platform}-${process.arch}`,
      git: gitState(root),
      startedAt: stamp,
    },
    ...(cluster === null
      ? {}
      : {
          cluster: cluster.report,
          /** The cluster against the single node under the same load (the single node is the baseline). */
          clusterVsSingle: {
            p50: ratio(cluster.report.eventToPushMs.p50, attune.report.eventToPushMs.p50),
            p99: ratio(cluster.report.eventToPushMs.p99, attune.report.eventToPushMs.p99),
            crossNodeP99: ratio(cluster.report.crossNode.eventToPushMs.p99, attune.report.eventToPushMs.p99),
            cpuPerEvent: ratio(cluster.report.clusterCpuMsPerEvent, attune.report.serverCpuMsPerEvent),
          },
          clusterTarget,
        }),
    attune: attune.report,
    baseline: baseline?.report ?? null,
    ratio: baseline
      ? {
          p50: ratio(attune.report.eventToPushMs.p50, baseline.report.eventToPushMs.p50),
          p99: ratio(attune.report.eventToPushMs.p99, baseline.report.eventToPushMs.p99),
          cpuPerEvent: ratio(attune.report.serverCpuMsPerEvent, baseline.report.serverCpuMsPerEvent),
        }
      : null,
    target,
    warnings: [...(cluster ? clusterWarnings(cluster.report) : []), ...warnings('attune', attune.report), ...(baseline ? warnings('baseline', baseline.report) : [])],
  };

  const json = JSON.stringify(report, null, 2);
  const jsonPath = join(outDir, `bench-${stamp}.json`);
  const svgPath = join(outDir, `bench-${stamp}.svg`);
  const series = [{ name: args.nodes > 0 ? 'attune, 1 node' : 'attune', color: '#1f77b4', sortedMs: attune.latencies }];
  if (cluster) {
    series.push({ name: `${args.nodes} nodes, all`, color: '#2ca02c', sortedMs: cluster.latencies });
    series.push({ name: `${args.nodes} nodes, cross-node`, color: '#d62728', sortedMs: cluster.crossLatencies });
  }
  if (baseline) series.push({ name: 'echo baseline', color: '#ff7f0e', sortedMs: baseline.latencies });
  await writeFile(jsonPath, `${json}\n`);
  await writeFile(
    svgPath,
    latencySvg(
      'Attune event-to-push latency',
      `${args.sockets} sockets, ${args.rate} ev/s offered, ${args.seconds} s measured after ${args.warmup} s warmup; node ${process.version}, ${cpuInfo.length} cpus; ${stamp}`,
      series,
      TARGET.p99Ms,
    ),
  );
  console.log(json);
  progress(`wrote ${relative(process.cwd(), jsonPath)} and ${relative(process.cwd(), svgPath)}`);
  for (const warning of report.warnings) progress(`warning: ${warning}`);
  if (cluster && clusterTarget) process.stderr.write(`${clusterLine(cluster.report, attune.report, clusterTarget)}\n`);
  process.stderr.write(`${summaryLine(args, attune.report, baseline?.report ?? null, target.met)}\n`);
  return 0;
}

let interrupted = false;
const interrupt = (signal: NodeJS.Signals): void => {
  if (interrupted) return;
  interrupted = true;
  progress(`${signal}: stopping servers`);
  const others = [...liveOthers];
  void Promise.allSettled([...liveChildren].map((child) => child.process.stop(2000)))
    .then(() => Promise.allSettled(others.filter((o) => o.phase === 0).map((o) => o.stop())))
    .then(() => Promise.allSettled(others.filter((o) => o.phase !== 0).map((o) => o.stop())))
    .then(() => process.exit(130));
};
process.once('SIGINT', interrupt);
process.once('SIGTERM', interrupt);

main(process.argv.slice(2)).then(
  (code) => {
    // Sockets and timers are all closed by now; exit anyway so a straggler cannot hold the bench open.
    process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ArgsError) {
      console.error(`bench: ${err.message}`);
      process.exit(2);
    }
    console.error(err instanceof SetupError ? `bench: setup failed: ${err.message}` : err);
    process.exit(1);
  },
);
