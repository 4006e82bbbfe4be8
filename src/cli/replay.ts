import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sessionKey, userKey } from '../session/events.js';
import { ConfigError, bool, defaultConfig, option, processEnvironment, text, type Environment, type Option } from '../config.js';
import { CatalogIndex } from '../model/catalog.js';
import { HELP, commandLineOnly, parseCommandLine, positiveNumber, shared, usage, type CommandFlags } from './args.js';
import { runCommand } from './exit-codes.js';
import { ensureDemoModel } from '../training/demo-model.js';
import { ModelSlot } from '../model/model-slot.js';
import { createRedisStores } from '../store/redis/index.js';
import { PSEUDONYM_OPTIONS, pseudonymsFrom, redisOptions, redisStoresOptions } from './cluster-flags.js';
import { formatTimeline, replayKey } from '../ops/session-replay.js';

interface ReplayFlags extends CommandFlags {
  session?: string;
  user?: string;
  model?: string;
  items?: number;
  json: boolean;
}

export const REPLAY_OPTIONS: readonly Option<ReplayFlags>[] = [
  option<string, ReplayFlags>('session', [], 'the session to replay', text, (f, v) => (f.session = v), 'ID'),
  option<string, ReplayFlags>('user', [], 'the user to replay (needs the nodes\' pseudonym key, or --dev)', text, (f, v) => (f.user = v), 'ID'),
  ...redisOptions('the cluster\'s Redis (or --redis-cluster host:port,...)'),
  ...PSEUDONYM_OPTIONS,
  option<string, ReplayFlags>('model', [], 'a bundle directory, or a version found under --data-dir/models; default:\nthe model of the latest recorded push if found there, else the demo model\n(another model than the one that pushed is a what-if replay)', text, (f, v) => (f.model = v), 'DIR|VERSION'),
  commandLineOnly(shared('data-dir', 'DIR', `where bundles are looked up (default ${defaultConfig.dataDir})`)),
  option<number, ReplayFlags>('items', [], 'list items shown per event (default 10)', positiveNumber, (f, v) => (f.items = v), 'N'),
  option<boolean, ReplayFlags>('json', [], 'the timeline as JSON', bool, (f, v) => (f.json = v)),
  HELP,
];

export const REPLAY_USAGE = usage(
  `usage: attune replay (--session ID | --user ID) --redis URL [options]

Reads the key's events and recorded pushes from the cluster's Redis and runs the events again
through a fresh state and a model, printing one block per event: what changed in the state (top
categories and items), the list with rank moves, and where a push was recorded for that event,
whether the replayed list is the same. Deterministic: the same inputs print the same output.
A running node serves the same timeline at GET /v1/admin/replay and the page /replay.html.
`,
  REPLAY_OPTIONS,
);

export function runReplay(argv: readonly string[], env: Environment = processEnvironment()): Promise<number> {
  return runCommand('replay', REPLAY_USAGE, [], () => replay(argv, env));
}

async function replay(argv: readonly string[], env: Environment): Promise<number> {
  const flags: ReplayFlags = { config: {}, help: false, json: false };
  const { config } = parseCommandLine('replay', REPLAY_OPTIONS, flags, argv, env);
  if (flags.help) {
    process.stdout.write(REPLAY_USAGE);
    return 0;
  }
  const { session, user } = flags;
  if ((session === undefined) === (user === undefined)) throw new ConfigError('give exactly one of --session ID or --user ID');
  const key = user !== undefined ? userKey(pseudonymsFrom(config).user(user)) : sessionKey(session ?? '');
  const stores = await createRedisStores(redisStoresOptions(config, 'an embedded server replays at GET /v1/admin/replay'));
  try {
    const [entries, pushes, items] = await Promise.all([stores.log.read(key, null), stores.pushes.read(key), stores.catalog.list()]);
    if (entries.length === 0) throw new ConfigError(`${key} has no events in the log`);
    const wanted = flags.model ?? pushes.at(-1)?.modelVersion;
    const modelDir = (wanted === undefined ? null : await findBundle(wanted, config.dataDir, flags.model !== undefined)) ?? (await ensureDemoModel(config.dataDir, () => {}));
    const model = await ModelSlot.load(modelDir, defaultConfig.scoring, defaultConfig.reducer);
    try {
      const serving = model.get();
      const timeline = await replayKey({ key, entries, pushes, scorer: serving.scorer, catalog: new CatalogIndex(items), reducer: serving.reducer, listSize: defaultConfig.pushSize });
      console.log(flags.json ? JSON.stringify(timeline, null, 2) : formatTimeline(timeline, flags.items ?? 10));
    } finally {
      await model.close();
    }
  } finally {
    await stores.close();
  }
  return 0;
}

/** A bundle directory, or the bundle under `dataDir/models` whose manifest has this version. */
async function findBundle(model: string, dataDir: string, asked: boolean): Promise<string | null> {
  if (await isBundle(model)) return model;
  const root = join(dataDir, 'models');
  const found: string[] = [];
  for (const name of await readdir(root).catch(() => [])) {
    const version = await manifestVersion(join(root, name));
    if (version === model) return join(root, name);
    if (version !== null) found.push(version);
  }
  if (asked) throw new ConfigError(`--model ${model}: not a bundle directory, nor a version under ${root} (found: ${found.join(', ') || 'none'})`);
  return null;
}

async function isBundle(dir: string): Promise<boolean> {
  return (await stat(join(dir, 'manifest.json')).catch(() => null))?.isFile() ?? false;
}

async function manifestVersion(dir: string): Promise<string | null> {
  try {
    const manifest: unknown = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const version = typeof manifest === 'object' && manifest !== null ? (manifest as Record<string, unknown>).version : null;
    return typeof version === 'string' ? version : null;
  } catch {
    return null;
  }
}
