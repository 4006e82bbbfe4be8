import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { ConfigError, bool, option, processEnvironment, readablePath, text, type Environment, type Option } from '../config.js';
import { HELP, parseCommandLine, stderrLog, usage, type CommandFlags } from './args.js';
import { EXIT, runCommand } from './exit-codes.js';
import { createRedisStores } from '../store/redis/index.js';
import { PSEUDONYM_OPTIONS, pseudonymsFrom, redisOptions, redisStoresOptions } from './cluster-flags.js';
import { ImportError, detectFormat, importData, isImportFormat, type ImportFormat, type ImportKind, type ImportReport, type RowError } from '../ops/import.js';

interface ImportFlags extends CommandFlags {
  files: Partial<Record<ImportKind, string>>;
  format?: string;
  errors?: string;
  json: boolean;
}

/** Where each kind's file goes: --interactions, --items, --users. */
const fileOption = (kind: ImportKind, help: string): Option<ImportFlags> => option<string, ImportFlags>(kind, [], help, text, (f, v) => (f.files[kind] = v), 'F');

export const IMPORT_OPTIONS: readonly Option<ImportFlags>[] = [
  fileOption('interactions', 'interactions file (.csv, .jsonl or .ndjson)'),
  fileOption('items', 'items file'),
  fileOption('users', 'users file'),
  ...redisOptions('the cluster\'s Redis (or --redis-cluster host:port,...)'),
  ...PSEUDONYM_OPTIONS,
  option<string, ImportFlags>('format', [], 'for every file, instead of the extensions', text, (f, v) => (f.format = v), 'csv|jsonl'),
  option<string, ImportFlags>('errors', [], 'write every rejected row as JSON lines {file, row, reason}', text, (f, v) => (f.errors = v), 'FILE'),
  option<boolean, ImportFlags>('json', [], 'the report as JSON on stdout', bool, (f, v) => (f.json = v)),
  HELP,
];

export const IMPORT_USAGE = usage(
  `usage: attune import [--interactions FILE] [--items FILE] [--users FILE] --redis URL [options]

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
`,
  IMPORT_OPTIONS,
);

/** Rejected rows listed in the text summary; --errors FILE has them all. */
const SUMMARY_ERRORS = 20;
const KINDS: readonly ImportKind[] = ['items', 'users', 'interactions'];

export function runImport(argv: readonly string[], env: Environment = processEnvironment()): Promise<number> {
  return runCommand('import', IMPORT_USAGE, [], () => runImportJob(argv, env));
}

async function runImportJob(argv: readonly string[], env: Environment): Promise<number> {
  const flags: ImportFlags = { config: {}, help: false, files: {}, json: false };
  const { config } = parseCommandLine('import', IMPORT_OPTIONS, flags, argv, env);
  if (flags.help) {
    process.stdout.write(IMPORT_USAGE);
    return EXIT.ok;
  }
  const { format, files, errors: errorsPath, json } = flags;
  if (format !== undefined && !isImportFormat(format)) throw new ConfigError(`--format must be csv or jsonl, got ${JSON.stringify(format)}`);
  for (const kind of KINDS) {
    const path = files[kind];
    if (path === undefined) continue;
    readablePath(path, `--${kind}`);
    if (format === undefined && detectFormat(path) === null) throw new ConfigError(`--${kind}: cannot tell the format of ${path} from its extension (.csv, .jsonl or .ndjson): give --format`);
  }
  if (Object.keys(files).length === 0) throw new ConfigError('give at least one of --interactions, --items, --users');
  const storesOptions = redisStoresOptions(config, 'an embedded server has no shared store: use POST /v1/import-jobs on the running server');
  const pseudonyms = pseudonymsFrom(config);

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
      return EXIT.ok;
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
    return EXIT.failed;
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
