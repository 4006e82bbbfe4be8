import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sessionKey, userKey } from '../session/events.js';
import { defaultConfig } from '../config.js';
import { CatalogIndex } from '../model/catalog.js';
import { UsageError, parseFlags, positiveNumber } from './args.js';
import { ensureDemoModel } from '../training/demo-model.js';
import { ModelSlot } from '../model/model-slot.js';
import { createRedisStores } from '../store/redis/index.js';
import { PSEUDONYM_FLAGS, REDIS_FLAGS, pseudonymsFrom, redisStoresOptions } from './cluster-flags.js';
import { formatTimeline, replayKey } from '../ops/session-replay.js';

export const REPLAY_USAGE = `usage: attune replay (--session ID | --user ID) --redis URL [options]

Reads the key's events and recorded pushes from the cluster's Redis and runs the events again
through a fresh state and a model, printing one block per event: what changed in the state (top
categories and items), the list with rank moves, and where a push was recorded for that event,
whether the replayed list is the same. Deterministic: the same inputs print the same output.
A running node serves the same timeline at GET /v1/admin/replay and the page /replay.html.

  --redis URL          the cluster's Redis (or --redis-cluster host:port,...)
  --redis-cluster L    Redis Cluster seeds, instead of --redis
  --redis-password P   Redis password, if not in the URL
  --redis-tls-ca FILE  PEM of the CA that signed Redis's certificate
  --pseudonym-key K    with --user: the nodes' pseudonym key (or ATTUNE_PSEUDONYM_KEY); --dev
                       for nodes run in development mode
  --encryption-keys K  the nodes' encryption keys (or ATTUNE_ENCRYPTION_KEYS), if they use them
  --shards N           the cluster's shard count (default ${defaultConfig.cluster.shardCount})
  --model DIR|VERSION  a bundle directory, or a version found under --data-dir/models; default:
                       the model of the latest recorded push if found there, else the demo model
                       (another model than the one that pushed is a what-if replay)
  --data-dir DIR       where bundles are looked up (default ${defaultConfig.dataDir})
  --items N            list items shown per event (default 10)
  --json               the timeline as JSON
`;

export async function runReplay(argv: readonly string[]): Promise<number> {
  try {
    const flags = parseFlags(argv, { values: ['session', 'user', ...REDIS_FLAGS, ...PSEUDONYM_FLAGS.values, 'model', 'data-dir', 'items'], booleans: ['json', 'help', ...PSEUDONYM_FLAGS.booleans] });
    if (flags.booleans.has('help')) {
      console.log(REPLAY_USAGE);
      return 0;
    }
    const session = flags.values.get('session');
    const user = flags.values.get('user');
    if ((session === undefined) === (user === undefined)) throw new UsageError('give exactly one of --session ID or --user ID');
    const key = user !== undefined ? userKey(pseudonymsFrom(flags).user(user)) : sessionKey(session ?? '');
    const stores = await createRedisStores(redisStoresOptions(flags, 'an embedded server replays at GET /v1/admin/replay'));
    try {
      const [entries, pushes, items] = await Promise.all([stores.log.read(key, null), stores.pushes.read(key), stores.catalog.list()]);
      if (entries.length === 0) throw new UsageError(`${key} has no events in the log`);
      const dataDir = flags.values.get('data-dir') ?? defaultConfig.dataDir;
      const wanted = flags.values.get('model') ?? pushes.at(-1)?.modelVersion;
      const modelDir = (wanted === undefined ? null : await findBundle(wanted, dataDir, flags.values.has('model'))) ?? (await ensureDemoModel(dataDir, () => {}));
      const model = await ModelSlot.load(modelDir, defaultConfig.scoring, defaultConfig.reducer);
      try {
        const serving = model.get();
        const timeline = await replayKey({ key, entries, pushes, scorer: serving.scorer, catalog: new CatalogIndex(items), reducer: serving.reducer, listSize: defaultConfig.pushSize });
        console.log(flags.booleans.has('json') ? JSON.stringify(timeline, null, 2) : formatTimeline(timeline, positiveNumber(flags, 'items') ?? 10));
      } finally {
        await model.close();
      }
    } finally {
      await stores.close();
    }
    return 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`attune replay: ${err.message}\n\n${REPLAY_USAGE}`);
    return 2;
  }
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
  if (asked) throw new UsageError(`--model ${model}: not a bundle directory, nor a version under ${root} (found: ${found.join(', ') || 'none'})`);
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
