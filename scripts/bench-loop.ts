/**
 * Issue 13's closed-loop benchmark: the rsc15 (YooChoose) test sessions replayed as live
 * traffic, click by click over HTTP, against a server serving a model trained on the first half
 * (by time) of the training sessions, once with live updates on and once off, in one run. After
 * each click the session's list is asked for, and the next click scores it: online HR@20,
 * MRR@20 and CTR (the next click is among the first --shown items, what a widget shows). Items
 * the model never saw (those first seen after its half) are what live updates can add.
 *
 * Prints one JSON object on stdout and a one-line summary on stderr; progress on stderr.
 *
 * usage: npm run bench:loop -- [--data DIR] [--sessions 1000] [--shown 5] [--explore-share 0] [--weak-below 0]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeConfig } from '../src/config.js';
import type { Interaction } from '../src/model/types.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import { readRsc15 } from '../src/training/datasets.js';
import { writeBundle } from '../src/training/bundle-writer.js';
import { trainItemItem } from '../src/training/trainer.js';
import { reciprocalRankAt, rankOf } from '../src/training/eval-metrics.js';
import { AUTH_HEADERS, SCRIPTS_MASTER_KEY } from './bench-lib/security.js';
import { ratio, round } from './bench-lib/stats.js';

interface Args {
  data: string;
  sessions: number;
  shown: number;
  exploreShare: number;
  /** The node's --live-weak-below. */
  weakBelow: number;
}

const DEFAULT_DATA = '../shared/data/rsc15/prepared';
const USAGE = 'usage: npm run bench:loop -- [--data DIR (default ../shared/data/rsc15/prepared)] [--sessions 1000] [--shown 5] [--explore-share 0] [--weak-below 0]';
const K = 20;

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { data: DEFAULT_DATA, sessions: 1000, shown: 5, exploreShare: 0, weakBelow: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new Error(`${flag} needs a value; ${USAGE}`);
    if (flag === '--data') args.data = raw;
    else if (flag === '--weak-below') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--weak-below needs an integer >= 0, got ${raw}`);
      args.weakBelow = n;
    } else if (flag === '--sessions' || flag === '--shown') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, got ${raw}`);
      args[flag === '--sessions' ? 'sessions' : 'shown'] = n;
    } else if (flag === '--explore-share') {
      const share = Number(raw);
      if (!(share >= 0 && share <= 1)) throw new Error(`--explore-share needs a number from 0 to 1, got ${raw}`);
      args.exploreShare = share;
    } else throw new Error(`unknown option ${flag}; ${USAGE}`);
  }
  return args;
}

/** Sessions (an rsc15 session is a user here) in time order of their first click, each's clicks in time order. */
function sessionsOf(interactions: readonly Interaction[]): Interaction[][] {
  const bySession = new Map<string, Interaction[]>();
  for (const x of interactions) {
    let clicks = bySession.get(x.userId);
    if (clicks === undefined) bySession.set(x.userId, (clicks = []));
    clicks.push(x);
  }
  const sessions = [...bySession.values()].map((clicks) => clicks.sort((a, b) => a.timestamp - b.timestamp));
  return sessions.sort((a, b) => a[0].timestamp - b[0].timestamp || (a[0].userId < b[0].userId ? -1 : 1));
}

interface Online {
  cases: number;
  hits: number;
  reciprocalRanks: number;
  clicksOnShown: number;
  /** Cases whose next click is an item the model never saw, and how many of those were hit. */
  newTargetCases: number;
  newTargetHits: number;
}

function metrics(o: Online, shown: number): Record<string, number> {
  return {
    [`HR@${K}`]: round(o.hits / o.cases, 4),
    [`MRR@${K}`]: round(o.reciprocalRanks / o.cases, 4),
    [`CTR@${shown}`]: round(o.clicksOnShown / o.cases, 4),
    cases: o.cases,
    newTargetCases: o.newTargetCases,
    [`newTargetHR@${K}`]: o.newTargetCases === 0 ? 0 : round(o.newTargetHits / o.newTargetCases, 4),
  };
}

async function call(server: RunningServer, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(server.url + path, {
    method,
    headers: body === undefined ? AUTH_HEADERS : { ...AUTH_HEADERS, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Replays the sessions through a fresh server on the bundle in `modelDir`, click by click. */
async function replay(label: string, modelDir: string, live: boolean, sessions: readonly Interaction[][], known: ReadonlySet<string>, args: Args): Promise<Online> {
  const server = await startServer(
    mergeConfig({
      host: '127.0.0.1',
      port: 0,
      modelDir,
      demoCatalog: false,
      logLevel: 'silent',
      pushSize: K,
      cache: { enabled: false },
      live: { enabled: live, exploreShare: args.exploreShare, weakBelow: args.weakBelow },
      security: { masterKey: SCRIPTS_MASTER_KEY, rateSessionPerS: 1_000_000, rateSessionBurst: 1_000_000, rateKeyPerS: 10_000_000, rateKeyBurst: 10_000_000 },
    }),
  );
  const online: Online = { cases: 0, hits: 0, reciprocalRanks: 0, clicksOnShown: 0, newTargetCases: 0, newTargetHits: 0 };
  try {
    let done = 0;
    for (const clicks of sessions) {
      const sessionId = `${label}-${clicks[0].userId}`;
      for (let p = 0; p < clicks.length; p++) {
        await call(server, 'POST', '/v1/events', { sessionId, eventList: [{ eventType: 'click', itemId: clicks[p].itemId, sentAt: clicks[p].timestamp }] });
        if (p + 1 === clicks.length) break;
        const list = ((await call(server, 'GET', `/v1/recommendations?sessionId=${encodeURIComponent(sessionId)}&numResults=${K}`)).items as Array<{ itemId: string }>).map((i) => i.itemId);
        const target = clicks[p + 1].itemId;
        const rank = rankOf(list, target);
        online.cases++;
        if (rank !== null && rank <= K) online.hits++;
        online.reciprocalRanks += reciprocalRankAt(rank, K);
        if (rank !== null && rank <= args.shown) online.clicksOnShown++;
        if (!known.has(target)) {
          online.newTargetCases++;
          if (rank !== null && rank <= K) online.newTargetHits++;
        }
      }
      if (++done % 100 === 0) process.stderr.write(`bench:loop: live ${live ? 'on' : 'off'}: ${done}/${sessions.length} sessions\n`);
    }
  } finally {
    await server.close();
  }
  return online;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const trainPath = join(args.data, 'yoochoose-clicks-100k_train_full.txt');
  const testPath = join(args.data, 'yoochoose-clicks-100k_test.txt');
  let train: Interaction[];
  let test: Interaction[];
  try {
    [train, test] = await Promise.all([readRsc15(trainPath), readRsc15(testPath)]);
  } catch (err) {
    process.stderr.write(`bench:loop: cannot read the rsc15 data under ${args.data} (${err instanceof Error ? err.message : String(err)}); see ../shared/data/README.md, or pass --data DIR\n`);
    process.exitCode = 2;
    return;
  }
  // The model's half: the training sessions that started before the median session start.
  const trainSessions = sessionsOf(train);
  const firstHalf = trainSessions.slice(0, Math.floor(trainSessions.length / 2)).flat();
  const model = trainItemItem(firstHalf);
  const known = new Set(model.items);
  const dir = await mkdtemp(join(tmpdir(), 'attune-bench-loop-'));
  try {
    const manifest = await writeBundle(dir, model);
    process.stderr.write(`bench:loop: trained ${manifest.version} on ${firstHalf.length} clicks of ${Math.floor(trainSessions.length / 2)} sessions (${model.itemCount} items)\n`);
    const sessions = sessionsOf(test)
      .filter((clicks) => clicks.length >= 2)
      .slice(0, args.sessions);
    const on = await replay('on', dir, true, sessions, known, args);
    const off = await replay('off', dir, false, sessions, known, args);
    const onMetrics = metrics(on, args.shown);
    const offMetrics = metrics(off, args.shown);
    const ratios: Record<string, number | null> = Object.fromEntries(
      [`HR@${K}`, `MRR@${K}`, `CTR@${args.shown}`].map((name) => [name, ratio(onMetrics[name], offMetrics[name])]),
    );
    const report = {
      benchmark: 'bench:loop',
      data: args.data,
      model: { version: manifest.version, trainSessions: Math.floor(trainSessions.length / 2), trainClicks: firstHalf.length, items: model.itemCount },
      replayed: { sessions: sessions.length, clicks: sessions.reduce((sum, s) => sum + s.length, 0) },
      exploreShare: args.exploreShare,
      weakBelow: args.weakBelow,
      liveOn: onMetrics,
      liveOff: offMetrics,
      ratioOnOff: ratios,
      seconds: round((performance.now() - started) / 1000, 1),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(
      `bench:loop: ${sessions.length} sessions, ${on.cases} cases: live on HR@${K} ${onMetrics[`HR@${K}`]} MRR@${K} ${onMetrics[`MRR@${K}`]} CTR@${args.shown} ${onMetrics[`CTR@${args.shown}`]} | off ${offMetrics[`HR@${K}`]} / ${offMetrics[`MRR@${K}`]} / ${offMetrics[`CTR@${args.shown}`]} | on/off ${ratios[`HR@${K}`]} / ${ratios[`MRR@${K}`]} / ${ratios[`CTR@${args.shown}`]}\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:loop: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
