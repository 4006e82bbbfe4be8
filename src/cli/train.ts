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
import { REDIS_FLAGS, redisStoresOptions } from './cluster-flags.js';
import { logInteractions } from '../training/log-dataset.js';
import type { Interaction } from '../model/types.js';
import type { Protocol } from '../training/eval-cases.js';
import { bundleMeta } from '../training/trained-model.js';
import { trainForData } from '../training/train-for-data.js';
import { describeSettings } from '../training/tuning.js';
import { UsageError, parseFlags, positiveNumber, readableFile, required, stderrLog } from './args.js';

export const TRAIN_USAGE = `usage: attune train --data FILE --format ${DATASET_FORMATS.join('|')} --out DIR [options]
       attune train --redis URL --out DIR [options]

Tunes the item-item model (and its reducer settings) on held-out validation cases, retrains it on
all the data and writes a model bundle to DIR.

  --data FILE        interactions: s3rec ("user item item ..."), rsc15 (SessionId\\tItemId\\tTime)
                     or csv (Amazon Personalize style: USER_ID, ITEM_ID, TIMESTAMP[, EVENT_TYPE, EVENT_VALUE])
  --format FORMAT    ${DATASET_FORMATS.join(', ')}
  --redis URL        instead of --data: every interaction in a cluster's event log, live or
                     imported (a session identified as a user counts for the user), with the
                     catalog's categories; tuned like csv (or --redis-cluster host:port,...,
                     --redis-password P, --shards N as the cluster's)
  --out DIR          bundle directory (created; existing bundle files are replaced)
  --items FILE       items CSV (ITEM_ID[, CATEGORY_L1|CATEGORY|GENRES...]): items without
                     interactions join the vocabulary; categories go to categories.json
  --budget SECONDS   time budget for tuning and training (default 240)
  --no-embeddings    item-item only (no low-rank embedding part)
  --json             print the manifest as JSON on stdout
`;

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
export async function runTrain(argv: string[]): Promise<number> {
  const log = stderrLog('train');
  try {
    const flags = parseFlags(argv, { values: ['data', 'format', 'out', 'items', 'budget', ...REDIS_FLAGS], booleans: ['no-embeddings', 'json', 'help'] });
    if (flags.booleans.has('help')) {
      process.stdout.write(TRAIN_USAGE);
      return 0;
    }
    const fromLog = flags.values.has('redis') || flags.values.has('redis-cluster');
    if (fromLog && (flags.values.has('data') || flags.values.has('format') || flags.values.has('items'))) throw new UsageError('--redis reads the interactions and the catalog from the cluster: give no --data, --format or --items');
    const format = fromLog ? 'csv' : required(flags, 'format', ` (${DATASET_FORMATS.join(', ')})`);
    if (!isDatasetFormat(format)) throw new UsageError(`--format must be one of ${DATASET_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    const dataPath = fromLog ? null : await readableFile(required(flags, 'data'), 'data');
    const out = required(flags, 'out');
    const itemsPath = flags.values.has('items') ? await readableFile(required(flags, 'items'), 'items') : undefined;
    const budget = positiveNumber(flags, 'budget');

    const started = performance.now();
    let interactions: Interaction[];
    let items: CatalogEntry[];
    if (dataPath === null) {
      const stores = await createRedisStores(redisStoresOptions(flags, 'or --data FILE'));
      try {
        log('reading the event log');
        interactions = await logInteractions(stores, (done, total) => log(`read ${done} of ${total} keys`));
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
      embeddings: !flags.booleans.has('no-embeddings'),
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
    });
    log(`settings: ${describeSettings(trained.settings)}`);
    log(
      `validation (${protocol}): ` +
        Object.entries(trained.validation)
          .map(([name, value]) => `${name} ${value.toFixed(4)}`)
          .join(', '),
    );
    log(`wrote ${manifest.version} (${manifest.itemCount} items, L ${manifest.historyLength}) to ${out} in ${trainingSeconds.toFixed(1)} s`);
    if (flags.booleans.has('json')) process.stdout.write(JSON.stringify(manifest) + '\n');
    else process.stdout.write(`${manifest.version} ${out}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`attune train: ${error.message}\n\n${TRAIN_USAGE}`);
      return 2;
    }
    if (error instanceof DatasetError || error instanceof InsufficientDataError) {
      process.stderr.write(`attune train: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
