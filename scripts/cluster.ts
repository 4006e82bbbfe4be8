/**
 * A local Attune cluster for development and benchmarks: a private redis-server (unless --redis)
 * and N `attune serve --redis` nodes as child processes on consecutive ports, their output
 * prefixed with the node's id. Ctrl-C / SIGTERM stops the nodes first (SIGTERM: each hands its
 * shards off and flushes fenced snapshots), then Redis.
 *
 * usage: npm run cluster -- [--nodes 3] [--base-port 8080] [--redis URL] [-- <attune serve flags>]
 */
import { join } from 'node:path';
import { ensureDemoModel } from '../src/training/demo-model.js';
import { SCRIPTS_MASTER_KEY } from './bench-lib/security.js';
import { startNode, type NodeProcess } from './harness/nodes.js';
import { waitForSettled } from './harness/ownership.js';
import { assertPortFree } from './harness/ports.js';
import { repoRoot } from './harness/repo-root.js';
import { startRedis, type RedisServer } from './harness/redis-server.js';
import { SetupError } from './harness/setup-error.js';

const USAGE = `usage: npm run cluster -- [options] [-- <attune serve flags>]

  --nodes N           nodes to start (default 3)
  --base-port P       node i listens on 127.0.0.1:P+i (default 8080)
  --redis URL         use this Redis instead of starting a private one
  --redis-port P      port of the private Redis (default: a free port)
  --shards S          shard count (default: attune's, 256)
  --lease-ttl-ms T    shard lease TTL (default: attune's, 5000)
  --log-level L       the nodes' log level: debug (default; every shard's handoff is a debug line,
                      which this runner reads to know the cluster settled), info, warn
  --help              this text

Anything after a lone "--" goes to every node's "attune serve" (e.g. -- --snapshot-every 10).
Node i runs "attune serve --redis URL --node-id node-i --port P+i --host 127.0.0.1 --dev
--master-key K": development mode (bare sessionIds on sockets, the same made-up token secret and
pseudonym key on every node) and one API key K with every role, printed at start. Its output
is printed with a "[node-i]" prefix; the ownership lines ({"event":"shard-gained"|"shard-lost",
"shard","epoch",...}) show every handoff. Ctrl-C or SIGTERM stops the nodes with SIGTERM (each
hands off its shards; SIGKILL after 15 s), then the private Redis. A second Ctrl-C kills at once.`;

interface ClusterArgs {
  nodes: number;
  basePort: number;
  redis: string | null;
  redisPort: number | null;
  shards: number | null;
  leaseTtlMs: number | null;
  logLevel: 'info' | 'warn' | 'debug';
  serveArgs: string[];
  help: boolean;
}

class ArgsError extends Error {
  override name = 'ArgsError';
}

const NODE_READY_TIMEOUT_MS = 60_000;
const NODE_STOP_GRACE_MS = 15_000;

function parseArgs(argv: readonly string[]): ClusterArgs {
  const args: ClusterArgs = { nodes: 3, basePort: 8080, redis: null, redisPort: null, shards: null, leaseTtlMs: null, logLevel: 'debug', serveArgs: [], help: false };
  const int = (raw: string | undefined, flag: string, min: number, max: number): number => {
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n < min || n > max) throw new ArgsError(`--${flag} must be an integer from ${min} to ${max}, got "${raw ?? ''}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      args.serveArgs = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('--')) throw new ArgsError(`unexpected argument "${arg}"\n\n${USAGE}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const value = (): string | undefined => (eq === -1 ? argv[++i] : arg.slice(eq + 1));
    switch (name) {
      case 'nodes':
        args.nodes = int(value(), name, 1, 64);
        break;
      case 'base-port':
        args.basePort = int(value(), name, 1, 65535);
        break;
      case 'redis': {
        const url = value();
        if (url === undefined || !/^rediss?:\/\//.test(url)) throw new ArgsError(`--redis needs a redis:// or rediss:// URL, got "${url ?? ''}"`);
        args.redis = url;
        break;
      }
      case 'redis-port':
        args.redisPort = int(value(), name, 1, 65535);
        break;
      case 'shards':
        args.shards = int(value(), name, 1, 16384);
        break;
      case 'lease-ttl-ms':
        args.leaseTtlMs = int(value(), name, 300, 600_000);
        break;
      case 'log-level': {
        const level = value();
        if (level !== 'info' && level !== 'warn' && level !== 'debug') throw new ArgsError(`--log-level must be info, warn or debug, got "${level ?? ''}"`);
        args.logLevel = level;
        break;
      }
      case 'help':
        args.help = true;
        break;
      default:
        throw new ArgsError(`unknown option --${name}\n\n${USAGE}`);
    }
  }
  if (args.basePort + args.nodes - 1 > 65535) throw new ArgsError(`--base-port ${args.basePort} leaves no room for ${args.nodes} nodes`);
  if (args.redis !== null && args.redisPort !== null) throw new ArgsError('give --redis or --redis-port, not both');
  return args;
}

const color = process.stdout.isTTY ? (code: number, text: string): string => `\u001b[${code}m${text}\u001b[0m` : (_code: number, text: string): string => text;
const COLORS = [36, 33, 35, 32, 34, 91, 92, 93, 94, 95, 96];

function say(line: string): void {
  process.stdout.write(`${color(1, '[cluster]')} ${line}\n`);
}

function prefixed(name: string, index: number): (line: string) => void {
  const tag = color(COLORS[index % COLORS.length], `[${name}]`);
  return (line) => process.stdout.write(`${tag} ${line}\n`);
}

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const root = repoRoot();
  const ports = Array.from({ length: args.nodes }, (_, i) => args.basePort + i);
  const busy: string[] = [];
  for (const port of [...ports, ...(args.redisPort === null ? [] : [args.redisPort])]) {
    try {
      await assertPortFree(port);
    } catch (err) {
      busy.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (busy.length > 0) throw new SetupError(`${busy.join('; ')}. Stop what listens there, or pick other ports with --base-port${args.redisPort === null ? '' : ' / --redis-port'}.`);

  // One demo model for all nodes, trained once here: nodes training into one directory at once would race.
  const modelArgs = args.serveArgs.some((a) => a === '--model' || a.startsWith('--model=')) ? [] : ['--model', await ensureDemoModel(join(root, 'var'), (m) => say(m)), '--demo-catalog'];
  const serveArgs = [
    ...(args.shards === null ? [] : ['--shards', String(args.shards)]),
    ...(args.leaseTtlMs === null ? [] : ['--lease-ttl-ms', String(args.leaseTtlMs)]),
    ...modelArgs,
    ...args.serveArgs,
  ];

  // Children live in their own process groups (detached), so the terminal's Ctrl-C reaches only
  // this script, which then stops them in order: nodes, then Redis. The harness kills them when
  // this script exits, and its watchdogs do if this script is killed outright (kill -9).
  let redis: RedisServer | null = null;
  const nodes: NodeProcess[] = [];
  let stopping: Promise<void> | null = null;
  const stopAll = (why: string): Promise<void> =>
    (stopping ??= (async () => {
      const started = performance.now();
      say(`${why}: stopping ${nodes.filter((n) => n.alive).length} nodes (SIGTERM: hand off, flush), then Redis`);
      await Promise.all(nodes.map((node) => node.stop(NODE_STOP_GRACE_MS)));
      for (const node of nodes) say(`${node.nodeId} ${node.describeExit()}`);
      if (redis !== null) {
        await redis.stop(5000);
        say(`private Redis on port ${redis.port} stopped`);
      }
      say(`stopped in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    })());

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      say(`${signal} again: killing everything now`);
      process.exit(130); // the harness kills every child on the way out
    }
    void stopAll(signal).then(() => process.exit(0));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  try {
    let redisUrl: string;
    if (args.redis === null) {
      redis = await startRedis({ ...(args.redisPort === null ? {} : { port: args.redisPort }), onLine: prefixed('redis', 10), detached: true });
      redisUrl = redis.url;
      say(`private Redis ${redisUrl} (pid ${redis.process.pid}, nothing persisted)`);
    } else {
      redisUrl = args.redis;
      say(`using Redis ${redisUrl.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@')}`);
    }

    const started = await Promise.allSettled(
      ports.map((port, i) =>
        startNode({
          nodeId: `node-${i}`,
          entry: 'built',
          port,
          redisUrl,
          masterKey: SCRIPTS_MASTER_KEY,
          serveArgs,
          logLevel: args.logLevel,
          onLine: prefixed(`node-${i}`, i),
          readyTimeoutMs: NODE_READY_TIMEOUT_MS,
          detached: true,
        }),
      ),
    );
    for (const outcome of started) if (outcome.status === 'fulfilled') nodes.push(outcome.value);
    const failed = started.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;

    for (const node of nodes) {
      say(`${node.nodeId} ${node.url} (pid ${node.pid})`);
      void node.exited.then(() => {
        if (stopping === null) say(`${node.nodeId} ${node.describeExit()} unexpectedly; the others take over its shards once its leases lapse`);
        if (stopping === null && nodes.every((n) => !n.alive)) void stopAll('every node exited').then(() => process.exit(1));
      });
    }
    const shards = args.shards ?? shardCountFrom(args.serveArgs) ?? 256;
    try {
      await waitForSettled(nodes, shards, 15_000);
      say(`ready: shards per node ${nodes.map((n) => `${n.nodeId}=${n.ownedShards().length}`).join(' ')} (of ${shards}); Redis ${redisUrl}`);
      const counts = nodes.map((n) => n.ownedShards().length);
      if (nodes.length > 1 && Math.min(...counts) < (shards / nodes.length) * 0.5) say(`warning: the rendezvous assignment is uneven (fewest ${Math.min(...counts)}, most ${Math.max(...counts)} of ${shards}); a node with few shards applies few events`);
    } catch {
      say(`ready, shards not settled yet: ${nodes.map((n) => `${n.nodeId}=${n.ownedShards().length}`).join(' ')} (of ${shards}; other nodes on this Redis?)`);
    }
    say(`API key on every node (every role, development only): ${SCRIPTS_MASTER_KEY}`);
    say('Ctrl-C stops the nodes, then Redis');
    void redis?.process.exited.then(() => {
      if (stopping === null) say('the private Redis exited unexpectedly; the nodes report not ready until it is back');
    });
  } catch (err) {
    await stopAll('startup failed');
    throw err;
  }
  await new Promise<never>(() => {}); // until a signal
  return 0;
}

function shardCountFrom(serveArgs: readonly string[]): number | null {
  const i = serveArgs.findIndex((a) => a === '--shards' || a.startsWith('--shards='));
  if (i === -1) return null;
  const raw = serveArgs[i].includes('=') ? serveArgs[i].split('=')[1] : serveArgs[i + 1];
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : null;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ArgsError) {
      console.error(`cluster: ${err.message}`);
      process.exit(2);
    }
    console.error(err instanceof SetupError ? `cluster: ${err.message}` : err);
    process.exit(1);
  },
);
