import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { defaultConfig } from '../config.js';
import { UsageError, parseFlags, readableFile, stderrLog } from './args.js';
import { createRedisStores, type RedisStoresOptions } from '../store/redis/index.js';
import type { Pseudonyms } from '../privacy/pseudonyms.js';
import { PSEUDONYM_FLAGS, REDIS_FLAGS, pseudonymsFrom, redisStoresOptions } from './cluster-flags.js';
import { ImportError, detectFormat, importData, isImportFormat, type ImportFormat, type ImportKind, type ImportReport, type RowError } from '../ops/import.js';

export const IMPORT_USAGE = `usage: attune import [--interactions FILE] [--items FILE] [--users FILE] --redis URL [options]

Imports history in Amazon Personalize-style schemas into the cluster's Redis, streaming the files
row by row (they may be larger than memory). CSV with a header, or JSONL (one object per line)
with the same field names, in any letter case:

  interactions  USER_ID, ITEM_ID, TIMESTAMP (Unix seconds); optional EVENT_TYPE (default
                "interaction"), EVENT_VALUE, SESSION_ID (default "import"). Each row is appended
                to the user's log (u:<pseudonym of USER_ID>) in file order; actors read it when they next load
                or catch up. Nothing is pushed to sockets.
  items         ITEM_ID; optional TITLE, PRICE, IN_STOCK (true/false/1/0) and a category from the
                first of CATEGORY_L1, CATEGORY, CATEGORIES, GENRE, GENRES (the part before "|").
                Imported before the interactions, whose entries then carry the item's category.
  users         USER_ID and any metadata columns: each non-empty field becomes an attribute of
                the user's profile (merged into what is stored).

A row that fails validation is skipped and reported (file, line, reason); the good rows are
imported. A missing header column or an unreadable file fails the job. Exit code 0 when the job
ran (also with rejected rows), 1 when it failed, 2 on usage errors. An embedded server (no
Redis) has no store this command can reach: use POST /v1/import-jobs on the running server.

  --interactions F     interactions file (.csv, .jsonl or .ndjson)
  --items F            items file
  --users F            users file
  --redis URL          the cluster's Redis (or --redis-cluster host:port,...)
  --redis-cluster L    Redis Cluster seeds, instead of --redis
  --redis-password P   Redis password, if not in the URL
  --redis-tls-ca FILE  PEM of the CA that signed Redis's certificate
  --shards N           the cluster's shard count (default ${defaultConfig.cluster.shardCount})
  --pseudonym-key K    the nodes' pseudonym key (or ATTUNE_PSEUDONYM_KEY): USER_IDs are stored as
                       pseudonyms; --dev for nodes run in development mode
  --encryption-keys K  the nodes' encryption keys (or ATTUNE_ENCRYPTION_KEYS), if they use them
  --format csv|jsonl   for every file, instead of the extensions
  --errors FILE        write every rejected row as JSON lines {file, row, reason}
  --json               the report as JSON on stdout
`;

/** Rejected rows listed in the text summary; --errors FILE has them all. */
const SUMMARY_ERRORS = 20;
const KINDS: readonly ImportKind[] = ['items', 'users', 'interactions'];

export async function runImport(argv: readonly string[]): Promise<number> {
  let files: Partial<Record<ImportKind, string>>;
  let format: ImportFormat | undefined;
  let storesOptions: RedisStoresOptions;
  let pseudonyms: Pseudonyms;
  let errorsPath: string | undefined;
  let json: boolean;
  try {
    const flags = parseFlags(argv, { values: ['interactions', 'items', 'users', ...REDIS_FLAGS, ...PSEUDONYM_FLAGS.values, 'format', 'errors'], booleans: ['json', 'help', ...PSEUDONYM_FLAGS.booleans] });
    if (flags.booleans.has('help')) {
      console.log(IMPORT_USAGE);
      return 0;
    }
    const rawFormat = flags.values.get('format');
    if (rawFormat !== undefined && !isImportFormat(rawFormat)) throw new UsageError(`--format must be csv or jsonl, got ${JSON.stringify(rawFormat)}`);
    format = rawFormat;
    files = {};
    for (const kind of KINDS) {
      const path = flags.values.get(kind);
      if (path === undefined) continue;
      files[kind] = await readableFile(path, kind);
      if (format === undefined && detectFormat(path) === null) throw new UsageError(`--${kind}: cannot tell the format of ${path} from its extension (.csv, .jsonl or .ndjson): give --format`);
    }
    if (Object.keys(files).length === 0) throw new UsageError('give at least one of --interactions, --items, --users');
    storesOptions = redisStoresOptions(flags, 'an embedded server has no shared store: use POST /v1/import-jobs on the running server');
    pseudonyms = pseudonymsFrom(flags);
    errorsPath = flags.values.get('errors');
    json = flags.booleans.has('json');
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`attune import: ${err.message}\n\n${IMPORT_USAGE}`);
    return 2;
  }

  const log = stderrLog('import');
  let errorsOut: WriteStream | null = null;
  try {
    if (errorsPath !== undefined) {
      errorsOut = createWriteStream(errorsPath);
      await once(errorsOut, 'open');
    }
    const out = errorsOut;
    const stores = await createRedisStores(storesOptions);
    try {
      const report = await importData({
        stores,
        ...files,
        ...(format === undefined ? {} : { format }),
        userIdAtRest: (userId) => pseudonyms.user(userId),
        optedOut: (userId) => stores.consent.isOptedOut(userId),
        onProgress: (p) => log(`${p.kind} ${p.file}: ${p.rows} rows${p.rejected > 0 ? ` (${p.rejected} rejected)` : ''}${p.done ? ', done' : ''}`),
        ...(out === null ? {} : { onRowError: (error: RowError) => writeLine(out, `${JSON.stringify(error)}\n`) }),
      });
      console.log(json ? JSON.stringify(report, null, 2) : summary(report, errorsPath));
      return 0;
    } finally {
      await stores.close();
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`attune import: failed: ${message}`);
    if (err instanceof ImportError) {
      if (json) console.log(JSON.stringify({ error: message, report: err.report }, null, 2));
      else console.error(summary(err.report, errorsPath));
    }
    return 1;
  } finally {
    if (errorsOut !== null) {
      errorsOut.end();
      await finished(errorsOut).catch(() => undefined);
    }
  }
}

async function writeLine(out: WriteStream, line: string): Promise<void> {
  if (!out.write(line)) await once(out, 'drain');
}

/** The report for people: counts per kind, then the first rejected rows. */
export function summary(report: ImportReport, errorsPath?: string): string {
  const lines: string[] = [];
  if (report.items !== null) lines.push(`items: ${report.items.imported} of ${report.items.read} imported, ${report.items.rejected} rejected`);
  if (report.users !== null) lines.push(`users: ${report.users.imported} of ${report.users.read} imported, ${report.users.rejected} rejected`);
  if (report.interactions !== null) lines.push(`interactions: ${report.interactions.imported} of ${report.interactions.read} imported, ${report.interactions.rejected} rejected`);
  if (report.errorCount > 0) {
    lines.push(`${report.errorCount} rejected row${report.errorCount === 1 ? '' : 's'}:`);
    for (const error of report.errors.slice(0, SUMMARY_ERRORS)) lines.push(`  ${error.file}:${error.row}: ${error.reason}`);
    const more = report.errorCount - Math.min(report.errors.length, SUMMARY_ERRORS);
    if (more > 0) lines.push(`  ... and ${more} more${errorsPath === undefined ? ' (--errors FILE writes them all)' : ` (all in ${errorsPath})`}`);
  }
  lines.push(`in ${report.seconds.toFixed(1)} s`);
  return lines.join('\n');
}
