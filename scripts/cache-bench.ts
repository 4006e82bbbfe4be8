/**
 * Issue 5's benchmark: GET /v1/recommendations for cold users (history in Redis, no live actor)
 * at high concurrency, against the same cluster with the cache on and then off, in one run.
 * Reports Redis commands per request (from Redis's own INFO commandstats, less the cluster's
 * idle background rate measured just before) and latency, and the off/on ratios.
 *
 * usage: npm run bench:cache -- [--nodes 2] [--users 2000] [--requests 20000] [--concurrency 100] [--zipf 1.1] [--fresh-ms 2000]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { userKey } from '../src/session/events.js';
import { demoCatalog } from '../src/demo/catalog.js';
import { seededRandom } from '../src/lib/random.js';
import { ensureDemoModel } from '../src/training/demo-model.js';
import { createRedisStores } from '../src/store/redis/index.js';
import { AUTH_HEADERS, devPseudonyms, SCRIPTS_MASTER_KEY, UNLIMITED_RATE_ARGS } from './bench-lib/security.js';
import { ratio, round, sortedCopy, summarize, type LatencySummary } from './bench-lib/stats.js';
import { latencySvg } from './bench-lib/svg.js';
import { startNode, type NodeProcess } from './harness/nodes.js';
import { waitForSettled } from './harness/ownership.js';
import { freePort } from './harness/ports.js';
import { repoRoot } from './harness/repo-root.js';
import { startRedis, type RedisServer } from './harness/redis-server.js';

interface Args {
  nodes: number;
  users: number;
  requests: number;
  concurrency: number;
  zipf: number;
  shards: number;
  /** The nodes' --cache-fresh-ms: how long a cached list is served before one refresh. */
  freshMs: number;
}

const DEFAULTS: Args = { nodes: 2, users: 2000, requests: 20_000, concurrency: 100, zipf: 1.1, shards: 64, freshMs: 2000 };
const FLAGS: Readonly<Record<string, keyof Args>> = { nodes: 'nodes', users: 'users', requests: 'requests', concurrency: 'concurrency', zipf: 'zipf', shards: 'shards', 'fresh-ms': 'freshMs' };

function parseArgs(argv: readonly string[]): Args {
  const args = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const name = FLAGS[flag.replace(/^--/, '')];
    if (name === undefined) throw new Error(`unknown option ${flag}; usage: npm run bench:cache -- [--nodes 2] [--users 2000] [--requests 20000] [--concurrency 100] [--zipf 1.1] [--shards 64] [--fresh-ms 2000]`);
    const raw = inline ?? argv[++i];
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} needs a positive number, got ${raw}`);
    args[name] = value;
  }
  return args;
}

interface ModeResult {
  cache: 'on' | 'off';
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSec: number;
  latencyMs: LatencySummary;
  redisCommands: number;
  /** Commands the idle cluster sends anyway (heartbeats, lease renewals, catalog polls), over the same time. */
  redisBackgroundCommands: number;
  redisCommandsPerRequest: number;
  /** attune_cache_lookups_total by outcome, attune_cache_refreshes_total, summed over the nodes. */
  cacheLookups: Record<string, number>;
  cacheRefreshes: number;
  sortedMs: Float64Array;
}

const progress = (message: string): void => void process.stderr.write(`bench:cache: ${message}\n`);

async function commandCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) if (match[1] !== 'info') calls += Number(match[2]);
  return calls;
}

async function scrapeCache(nodes: readonly NodeProcess[]): Promise<{ lookups: Record<string, number>; refreshes: number }> {
  const lookups: Record<string, number> = {};
  let refreshes = 0;
  for (const node of nodes) {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    for (const match of text.matchAll(/^attune_cache_lookups_total\{cache="recommendations",outcome="([a-z_]+)"\} (\d+)/gm)) lookups[match[1]] = (lookups[match[1]] ?? 0) + Number(match[2]);
    for (const match of text.matchAll(/^attune_cache_refreshes_total\{cache="recommendations"\} (\d+)/gm)) refreshes += Number(match[1]);
  }
  return { lookups, refreshes };
}

/** Users drawn by a Zipf law: a few hot users asked for often, a long tail asked for rarely. */
function zipfPicker(users: number, exponent: number, random: () => number): () => number {
  const cumulative = new Float64Array(users);
  let total = 0;
  for (let rank = 0; rank < users; rank++) cumulative[rank] = total += 1 / (rank + 1) ** exponent;
  return () => {
    const target = random() * total;
    let lo = 0;
    let hi = users - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

async function seedUsers(redisUrl: string, args: Args): Promise<void> {
  const stores = await createRedisStores({ url: redisUrl, shardCount: args.shards });
  const random = seededRandom(7);
  const items = demoCatalog();
  const now = Date.now();
  // Stored as the nodes store them: under the user's pseudonym.
  const pseudonyms = devPseudonyms();
  try {
    for (let user = 0; user < args.users; user++) {
      const events = 5 + Math.floor(random() * 10);
      const userId = pseudonyms.user(`cold-${user}`);
      for (let i = 0; i < events; i++) {
        const item = items[Math.floor(random() * items.length)];
        await stores.log.append(userKey(userId), { kind: 'interaction', sessionId: `visit-${user}`, userId, eventType: 'view', itemId: item.itemId, itemCategory: item.category, sentAt: now - (events - i) * 60_000, receivedAt: now });
      }
      if ((user + 1) % 500 === 0) progress(`seeded ${user + 1}/${args.users} users`);
    }
  } finally {
    await stores.close();
  }
}

async function runMode(modelDir: string, args: Args, cache: 'on' | 'off'): Promise<ModeResult> {
  const redisChild: RedisServer = await startRedis();
  const nodes: NodeProcess[] = [];
  const admin = new Redis(redisChild.url);
  try {
    progress(`cache ${cache}: seeding ${args.users} cold users`);
    await seedUsers(redisChild.url, args);
    for (let i = 0; i < args.nodes; i++) {
      nodes.push(
        await startNode({
          redisUrl: redisChild.url,
          nodeId: `node-${i}`,
          entry: 'built',
          port: await freePort(),
          masterKey: SCRIPTS_MASTER_KEY,
          serveArgs: ['--model', modelDir, '--demo-catalog', '--shards', String(args.shards), '--cache', cache === 'on' ? 'true' : 'false', '--cache-fresh-ms', String(args.freshMs), ...UNLIMITED_RATE_ARGS],
          readyTimeoutMs: 30_000,
        }),
      );
    }
    await waitForSettled(nodes, args.shards, 30_000);
    const idleMs = 3000;
    const idleStart = await commandCalls(admin);
    await sleep(idleMs);
    const idleRate = ((await commandCalls(admin)) - idleStart - 1) / idleMs;

    const pick = zipfPicker(args.users, args.zipf, seededRandom(11));
    const latencies: number[] = [];
    let errors = 0;
    let issued = 0;
    const before = await commandCalls(admin);
    const started = performance.now();
    const worker = async (): Promise<void> => {
      while (issued < args.requests) {
        const n = issued++;
        const node = nodes[n % nodes.length];
        const sent = performance.now();
        try {
          const response = await fetch(`${node.url}/v1/recommendations?userId=cold-${pick()}&numResults=20`, { headers: AUTH_HEADERS });
          await response.arrayBuffer();
          if (response.status !== 200) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - sent);
        if (n > 0 && n % 5000 === 0) progress(`cache ${cache}: ${n}/${args.requests} requests`);
      }
    };
    await Promise.all(Array.from({ length: args.concurrency }, () => worker()));
    const elapsedMs = performance.now() - started;
    const commands = (await commandCalls(admin)) - before - 1;
    const background = Math.round(idleRate * elapsedMs);
    const { lookups, refreshes } = await scrapeCache(nodes);
    const sortedMs = sortedCopy(latencies);
    return {
      cache,
      requests: latencies.length,
      errors,
      seconds: round(elapsedMs / 1000, 2),
      requestsPerSec: Math.round(latencies.length / (elapsedMs / 1000)),
      latencyMs: summarize(sortedMs),
      redisCommands: commands,
      redisBackgroundCommands: background,
      redisCommandsPerRequest: round(Math.max(0, commands - background) / latencies.length, 3),
      cacheLookups: lookups,
      cacheRefreshes: refreshes,
      sortedMs,
    };
  } finally {
    admin.disconnect();
    await Promise.all(nodes.map((node) => node.stop()));
    await redisChild.stop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const root = repoRoot();
  const modelDir = await ensureDemoModel(join(root, 'var'), () => {});
  const on = await runMode(modelDir, args, 'on');
  const off = await runMode(modelDir, args, 'off');
  const strip = ({ sortedMs: _, ...rest }: ModeResult) => rest;
  const report = {
    config: args,
    on: strip(on),
    off: strip(off),
    ratios: {
      redisCommandsPerRequestOffOverOn: ratio(off.redisCommandsPerRequest, on.redisCommandsPerRequest),
      p99OffOverOn: ratio(off.latencyMs.p99, on.latencyMs.p99),
      throughputOnOverOff: ratio(on.requestsPerSec, off.requestsPerSec),
    },
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = join(root, 'var', 'bench');
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `cache-${stamp}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const subtitle = `${args.nodes} nodes, ${args.users} cold users (Zipf ${args.zipf}), ${args.requests} GETs, ${args.concurrency} in flight, lists fresh ${args.freshMs} ms`;
  writeFileSync(`${base}.svg`, latencySvg('GET /v1/recommendations for cold users: cache on vs off', subtitle, [
    { name: 'cache on', color: '#1f77b4', sortedMs: on.sortedMs },
    { name: 'cache off', color: '#d62728', sortedMs: off.sortedMs },
  ], 10));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  progress(`wrote ${base}.json and ${base}.svg`);
  progress(
    `cache on: ${on.redisCommandsPerRequest} redis cmds/request, p50 ${on.latencyMs.p50} ms p99 ${on.latencyMs.p99} ms, ${on.requestsPerSec} req/s; ` +
      `off: ${off.redisCommandsPerRequest} cmds/request, p50 ${off.latencyMs.p50} ms p99 ${off.latencyMs.p99} ms, ${off.requestsPerSec} req/s; ` +
      `ratios off/on: redis ${report.ratios.redisCommandsPerRequestOffOverOn}x, p99 ${report.ratios.p99OffOverOn}x`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cache: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
