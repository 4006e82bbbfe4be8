import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeBundle } from '../training/bundle-writer.js';
import {
  DATASET_FORMATS,
  DatasetError,
  InsufficientDataError,
  checkMinimumData,
  isDatasetFormat,
  readInteractions,
  readItemsCsv,
  type CatalogEntry,
  type DatasetFormat,
} from '../training/datasets.js';
import { createRedisStores } from '../store/redis/index.js';
import { redisOptions, redisStoresOptions } from './cluster-flags.js';
import { logTrainingData } from '../training/log-dataset.js';
import type { ManifestLineage } from '../model/lineage.js';
import type { Interaction } from '../model/types.js';
import type { Protocol } from '../training/eval-cases.js';
import { bundleMeta } from '../training/trained-model.js';
import { trainForData } from '../training/train-for-data.js';
import { describeSettings } from '../training/tuning.js';
import { ConfigError, bool, option, processEnvironment, readablePath, text, type Environment, type Option } from '../config.js';
import { HELP, parseCommandLine, positiveNumber, required, stderrLog, usage, type CommandFlags } from './args.js';
import { runCommand } from './exit-codes.js';

interface TrainFlags extends CommandFlags {
  data?: string;
  format?: string;
  out?: string;
  items?: string;
  budget?: number;
  parent?: string;
  embeddings: boolean;
  json: boolean;
}

const TRAIN_OPTIONS: readonly Option<TrainFlags>[] = [
  option<string, TrainFlags>('data', [], 'interactions: s3rec ("user item item ..."), rsc15 (SessionId\\tItemId\\tTime)\nor csv (Amazon Personalize style: USER_ID, ITEM_ID, TIMESTAMP[, EVENT_TYPE, EVENT_VALUE])', text, (f, v) => (f.data = v), 'FILE'),
  option<string, TrainFlags>('format', [], DATASET_FORMATS.join(', '), text, (f, v) => (f.format = v), 'FORMAT'),
  ...redisOptions('instead of --data: every interaction in a cluster\'s event log, live or\nimported (a session identified as a user counts for the user), with the\ncatalog\'s categories; tuned like csv'),
  option<string, TrainFlags>('out', [], 'bundle directory (created; existing bundle files are replaced)', text, (f, v) => (f.out = v), 'DIR'),
  option<string, TrainFlags>('items', [], 'items CSV (ITEM_ID[, CATEGORY_L1|CATEGORY|GENRES...]): items without\ninteractions join the vocabulary; categories go to categories.json', text, (f, v) => (f.items = v), 'FILE'),
  option<number, TrainFlags>('budget', [], 'time budget for tuning and training (default 240)', positiveNumber, (f, v) => (f.budget = v), 'SECONDS'),
  option<string, TrainFlags>('parent', [], 'the model version this one is trained to replace (recorded in the\nmanifest\'s lineage, and so in the model registry)', text, (f, v) => (f.parent = v), 'VERSION'),
  option<boolean, TrainFlags>('no-embeddings', [], 'item-item only (no low-rank embedding part)', bool, (f, v) => (f.embeddings = !v)),
  option<boolean, TrainFlags>('json', [], 'print the manifest as JSON on stdout', bool, (f, v) => (f.json = v)),
  HELP,
];

export const TRAIN_USAGE = usage(
  `usage: attune train --data FILE --format ${DATASET_FORMATS.join('|')} --out DIR [options]
       attune train --redis URL --out DIR [options]

Tunes the item-item model (and its reducer settings) on held-out validation cases, retrains it on
all the data and writes a model bundle to DIR.
`,
  TRAIN_OPTIONS,
);

/** How each format is tuned: users with leave-one-out, or sessions with session-rec's next-click protocol. */
export function protocolOf(format: DatasetFormat): { protocol: Protocol; tuneHalfLife: boolean } {
  switch (format) {
    case 's3rec':
      // No real time: the reducer's recency is positional (synthetic timestamps one minute apart).
      return { protocol: 'leave-one-out', tuneHalfLife: false };
    case 'csv':
      return { protocol: 'leave-one-out', tuneHalfLife: true };
    case 'rsc15':
      return { protocol: 'sessions', tuneHalfLife: true };
  }
}

/** `attune train ...`; returns the exit code (2: bad arguments, 1: bad or insufficient data). */
export function runTrain(argv: readonly string[], env: Environment = processEnvironment()): Promise<number> {
  return runCommand('train', TRAIN_USAGE, [DatasetError, InsufficientDataError], () => train(argv, env));
}

async function train(argv: readonly string[], env: Environment): Promise<number> {
  const log = stderrLog('train');
  const flags: TrainFlags = { config: {}, help: false, embeddings: true, json: false };
  const { config } = parseCommandLine('train', TRAIN_OPTIONS, flags, argv, env);
  if (flags.help) {
    process.stdout.write(TRAIN_USAGE);
    return 0;
  }
  const fromLog = config.redis.url !== null || config.redis.cluster.length > 0;
  if (fromLog && (flags.data !== undefined || flags.format !== undefined || flags.items !== undefined)) throw new ConfigError('--redis reads the interactions and the catalog from the cluster: give no --data, --format or --items');
  const format = fromLog ? 'csv' : required(flags.format, 'format', ` (${DATASET_FORMATS.join(', ')})`);
  if (!isDatasetFormat(format)) throw new ConfigError(`--format must be one of ${DATASET_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  const dataPath = fromLog ? null : readablePath(required(flags.data, 'data'), '--data');
  const out = required(flags.out, 'out');
  const itemsPath = flags.items === undefined ? undefined : readablePath(flags.items, '--items');
  const budget = flags.budget;

  const started = performance.now();
  let interactions: Interaction[];
  let items: CatalogEntry[];
  let window: Pick<ManifestLineage, 'firstEventId' | 'lastEventId'> = { firstEventId: null, lastEventId: null };
  if (dataPath === null) {
    const stores = await createRedisStores(redisStoresOptions(config, 'or --data FILE'));
    try {
      log('reading the event log');
      const fromTheLog = await logTrainingData(stores, (done, total) => log(`read ${done} of ${total} keys`));
      interactions = fromTheLog.interactions;
      window = { firstEventId: fromTheLog.firstEventId, lastEventId: fromTheLog.lastEventId };
      items = (await stores.catalog.list()).map((item) => ({ itemId: item.itemId, category: item.category }));
      log(`read ${interactions.length} interactions and ${items.length} catalog items`);
    } finally {
      await stores.close();
    }
  } else {
    log(`reading ${dataPath} (${format})`);
    interactions = await readInteractions(dataPath, format, { onProgress: (lines) => log(`read ${lines} lines`) });
    items = itemsPath === undefined ? [] : await readItemsCsv(itemsPath);
    if (itemsPath !== undefined) log(`read ${items.length} catalog items from ${itemsPath}`);
  }
  const { protocol, tuneHalfLife } = protocolOf(format);
  checkMinimumData(interactions, undefined, protocol === 'sessions' ? 'session' : 'user');
  const categories = new Map(items.filter((item) => item.category !== undefined).map((item) => [item.itemId, item.category as string]));

  const trained = await trainForData(interactions, {
    protocol,
    tuneHalfLife,
    catalog: items.map((item) => item.itemId),
    embeddings: flags.embeddings,
    ...(budget === undefined ? {} : { budgetMs: budget * 1000 }),
    log,
  });
  const trainingSeconds = (performance.now() - started) / 1000;
  const validation = Object.fromEntries(Object.entries(trained.validation).map(([name, value]) => [`validation.${name}`, value]));
  const meta = bundleMeta(trained, validation);
  const model = { ...trained.model, stats: { ...trained.model.stats, trainingSeconds } };
  const manifest = await writeBundle(out, model, {
    ...meta,
    parameters: { ...meta.parameters, dataset: dataPath === null ? 'event log' : basename(dataPath), format: dataPath === null ? 'log' : format, protocol },
    categories,
    lineage: { source: dataPath === null ? 'event log' : basename(dataPath), ...window, rows: interactions.length, parentVersion: flags.parent ?? null },
  });
  log(`settings: ${describeSettings(trained.settings)}`);
  log(
    `validation (${protocol}): ` +
      Object.entries(trained.validation)
        .map(([name, value]) => `${name} ${value.toFixed(4)}`)
        .join(', '),
  );
  log(`wrote ${manifest.version} (${manifest.itemCount} items, L ${manifest.historyLength}) to ${out} in ${trainingSeconds.toFixed(1)} s`);
  if (flags.json) process.stdout.write(JSON.stringify(manifest) + '\n');
  else process.stdout.write(`${manifest.version} ${out}\n`);
  return 0;
}
