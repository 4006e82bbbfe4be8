import { extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { userKey, type InteractionEntry } from '../session/events.js';
import { CATEGORY_COLUMNS, CSV_DEFAULT_EVENT_TYPE, DatasetError } from '../training/datasets.js';
import { csvRecords, type CsvRecord } from '../lib/csv.js';
import { jsonErrorByte } from '../lib/json-offset.js';
import { isBlank, numberedLines } from '../lib/lines.js';
import type { CatalogItem, CatalogItemUpdate, Stores, UserAttributes } from '../store/types.js';
import { ID_MAX, eventSchema } from '../session/event-schema.js';

/**
 * Bulk import of history in Amazon Personalize-style schemas (CSV with a header, or JSONL with
 * the same field names), streamed row by row so files larger than memory import in bounded
 * memory:
 *
 * - interactions (USER_ID, ITEM_ID, TIMESTAMP in Unix seconds; optional EVENT_TYPE, EVENT_VALUE,
 *   SESSION_ID) become interaction entries of the user's log key `u:<USER_ID>`, in file order
 *   per key. They feed what reads the log (actor state on activation, replay, training from the
 *   log) and, through `onInteraction`, the node's popular and trending counts. Nothing is pushed
 *   and no actor is woken: the import writes history, not live events.
 * - items (ITEM_ID; optional TITLE, PRICE, IN_STOCK and a category from the first of
 *   CATEGORY_L1, CATEGORY, CATEGORIES, GENRE, GENRES, the part before a "|") are upserted into
 *   the catalog, before the interactions so that their categories enrich them.
 * - users (USER_ID and any metadata columns) are merged into the users' profiles in
 *   `stores.users`: every other non-empty field becomes a string attribute (at most 1,024
 *   characters), named by its column in upper case.
 *
 * A row that fails validation is skipped and reported with its file, 1-based line number and
 * reason (the column, or the byte in the line, at fault: never the file's content); the good rows
 * are imported. A file that cannot be read, a CSV header that lacks a
 * required column, or a store failure fails the whole job with an ImportError.
 */

export const IMPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];
export type ImportKind = 'interactions' | 'items' | 'users';

export function isImportFormat(value: string): value is ImportFormat {
  return (IMPORT_FORMATS as readonly string[]).includes(value);
}

/** The format a file's extension names (.csv; .jsonl or .ndjson), or null. */
export function detectFormat(path: string): ImportFormat | null {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return null;
}

/** A rejected row: `row` is the 1-based line it starts on. */
export interface RowError {
  file: string;
  row: number;
  reason: string;
}

export interface ImportProgress {
  kind: ImportKind;
  file: string;
  /** Data rows read so far (the header and blank lines are not rows). */
  rows: number;
  rejected: number;
  /** True once the whole file is read and its rows written. */
  done: boolean;
}

export interface KindReport {
  read: number;
  imported: number;
  /** Rows of opted-out users, left out (present only when there were some). */
  optedOut?: number;
  rejected: number;
}

export interface ImportReport {
  /** Null for a kind whose file was not given. */
  interactions: KindReport | null;
  items: KindReport | null;
  users: KindReport | null;
  /** The first `maxErrors` rejected rows, in the order read. */
  errors: RowError[];
  /** Every rejected row, also those beyond `maxErrors`. */
  errorCount: number;
  seconds: number;
}

export type RowOutcome = 'imported' | 'rejected';

/** What the node counts of imports (attune_import_rows_total, attune_import_jobs_total). */
export interface ImportCounters {
  rows(kind: ImportKind, outcome: RowOutcome, count: number): void;
  job(outcome: 'succeeded' | 'failed'): void;
}

/** An interaction entry before the log has given it an id. */
export type NewInteractionEntry = Omit<InteractionEntry, 'eventId'>;

export interface ImportOptions {
  stores: Pick<Stores, 'log' | 'catalog' | 'users'>;
  interactions?: string;
  items?: string;
  users?: string;
  /** For every file; by default each file's extension decides. */
  format?: ImportFormat;
  /** The item's category for the enrichment; by default each chunk's items are read from `stores.catalog`. */
  categoryOf?: (itemId: string) => string | undefined;
  /** Each imported interaction, once it is in the log (the server feeds its popular/trending counts). */
  onInteraction?: (entry: InteractionEntry) => void;
  /** Each chunk of items as stored (the server applies them to its catalog index). */
  onItems?: (stored: CatalogItem[]) => void;
  /**
   * Appends one key's entries, in order, and returns them with their ids; by default one
   * `stores.log.append` after another.
   */
  appendKey?: (key: string, entries: readonly NewInteractionEntry[]) => Promise<InteractionEntry[]>;
  /** Every `progressEvery` rows of a file and once at its end. */
  onProgress?: (progress: ImportProgress) => void;
  /** Every rejected row, also those beyond `maxErrors` (the CLI writes them to --errors). */
  onRowError?: (error: RowError) => void | Promise<void>;
  counters?: Pick<ImportCounters, 'rows'>;
  /** Rejected rows kept in the report (default 1000); all are counted. */
  maxErrors?: number;
  progressEvery?: number;
  /** Rows written per step (default 500): grouped by key, keys in parallel, each key in file order. */
  chunkRows?: number;
  /** Keys appended at the same time within a chunk (default 32). */
  concurrency?: number;
  /** The receive time given to imported entries (default Date.now). */
  now?: () => number;
  /** What a USER_ID is stored as (the server's pseudonym); the id as given by default. */
  userIdAtRest?: (userId: string) => string;
  /** Users whose rows (interactions, profiles) are skipped: opted out of personalization; given the id at rest. */
  optedOut?: (userId: string) => Promise<boolean>;
  /** Aborting fails the job with "import aborted" at the next row. */
  signal?: AbortSignal;
}

/** The job failed; `report` holds what was done before it failed. */
export class ImportError extends Error {
  constructor(
    message: string,
    readonly report: ImportReport,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImportError';
  }
}

export const DEFAULT_MAX_ERRORS = 1000;
export const DEFAULT_PROGRESS_EVERY = 10_000;
export const DEFAULT_CHUNK_ROWS = 500;
export const DEFAULT_CONCURRENCY = 32;
/** Longest line, and longest multi-line CSV record, read; longer ones are rejected rows. */
export const MAX_RECORD_CHARS = 1 << 20;
export const TITLE_MAX = 1024;
/** TIMESTAMPs above this many seconds (year 5138) are taken for milliseconds and rejected. */
const MAX_SECONDS = 1e11;

const EVENT_TYPE_PATTERN = new RegExp(eventSchema.properties.eventType.pattern);
const EVENT_TYPE_MAX = eventSchema.properties.eventType.maxLength;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** Longest user attribute value kept, in characters (the API's limit on a property). */
const ATTRIBUTE_MAX = 1024;
const REQUIRED: Readonly<Record<ImportKind, readonly string[]>> = {
  interactions: ['USER_ID', 'ITEM_ID', 'TIMESTAMP'],
  items: ['ITEM_ID'],
  users: ['USER_ID'],
};

/** Runs one import: items first, then users, then interactions. */
export async function importData(options: ImportOptions): Promise<ImportReport> {
  const started = performance.now();
  const maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
  const report: ImportReport = {
    interactions: options.interactions === undefined ? null : { read: 0, imported: 0, rejected: 0 },
    items: options.items === undefined ? null : { read: 0, imported: 0, rejected: 0 },
    users: options.users === undefined ? null : { read: 0, imported: 0, rejected: 0 },
    errors: [],
    errorCount: 0,
    seconds: 0,
  };
  const finish = (): ImportReport => {
    report.seconds = Math.round(performance.now() - started) / 1000;
    return report;
  };
  let current = '';
  try {
    const files: Array<[ImportKind, string | undefined]> = [
      ['items', options.items],
      ['users', options.users],
      ['interactions', options.interactions],
    ];
    if (files.every(([, path]) => path === undefined)) throw new Error('nothing to import: give interactions, items or users');
    for (const [kind, path] of files) {
      if (path === undefined) continue;
      current = `${kind} ${path}: `;
      const format = options.format ?? detectFormat(path);
      if (format === null) throw new Error(`cannot tell the format from the extension (.csv, .jsonl or .ndjson): give the format`);
      const sink = new FileSink(kind, path, options, report, maxErrors);
      await sink.run(format);
    }
    return finish();
  } catch (err) {
    finish();
    if (err instanceof ImportError) throw err;
    // DatasetError and read errors already name the file.
    const named = err instanceof DatasetError || err instanceof ReadError;
    const message = err instanceof Error ? err.message : String(err);
    throw new ImportError(named ? message : `${current}${message}`, report, { cause: err });
  }
}

/** The file could not be read (missing, a directory, no permission, an I/O error). */
class ReadError extends Error {
  constructor(path: string, cause: unknown) {
    super(`cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ReadError';
  }
}

/** A row's fields by upper-case name; undefined when the column or key is absent (or null in JSON). */
type Fields = (name: string) => unknown;

interface RawRow {
  row: number;
  fields: Fields | null;
  /** The field names the row has (upper case): the CSV header, or the JSON object's keys. */
  names?: readonly string[];
  /** Why the row could not be parsed at all; null when `fields` is set. */
  error: string | null;
}

class RowRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

interface PendingInteraction {
  key: string;
  entry: NewInteractionEntry;
}

/** Reads one file and writes its good rows, counting into the job's report. */
class FileSink {
  private readonly counts: { read: number; rejected: number };
  private readonly counted = { done: 0, rejected: 0 };
  private interactions: PendingInteraction[] = [];
  private items: CatalogItemUpdate[] = [];
  private users: Array<{ userId: string; attributes: UserAttributes }> = [];
  private readonly chunkRows: number;
  private readonly progressEvery: number;
  private readonly now: () => number;

  constructor(
    private readonly kind: ImportKind,
    private readonly path: string,
    private readonly options: ImportOptions,
    private readonly report: ImportReport,
    private readonly maxErrors: number,
  ) {
    const counts = kind === 'users' ? report.users : kind === 'items' ? report.items : report.interactions;
    if (counts === null) throw new Error(`no report for ${kind}`);
    this.counts = counts;
    this.chunkRows = Math.max(1, options.chunkRows ?? DEFAULT_CHUNK_ROWS);
    this.progressEvery = Math.max(1, options.progressEvery ?? DEFAULT_PROGRESS_EVERY);
    this.now = options.now ?? Date.now;
  }

  async run(format: ImportFormat): Promise<void> {
    try {
      const rows = format === 'csv' ? csvRows(this.path, REQUIRED[this.kind]) : jsonlRows(this.path);
      for await (const batch of rows) {
        for (const raw of batch) {
          if (this.options.signal?.aborted) throw new Error('import aborted');
          this.counts.read++;
          try {
            if (raw.fields === null) throw new RowRejected(raw.error ?? 'unreadable row');
            this.accept(raw.fields, raw.names ?? []);
          } catch (err) {
            if (!(err instanceof RowRejected)) throw err;
            await this.reject(raw.row, err.reason);
          }
          if (this.interactions.length >= this.chunkRows) await this.flushInteractions();
          if (this.items.length >= this.chunkRows) await this.flushItems();
          if (this.users.length >= this.chunkRows) await this.flushUsers();
          if (this.counts.read % this.progressEvery === 0) this.progress(false);
        }
      }
      await this.flushInteractions();
      await this.flushItems();
      await this.flushUsers();
      this.progress(true);
    } finally {
      this.syncCounters();
    }
  }

  private accept(get: Fields, names: readonly string[]): void {
    switch (this.kind) {
      case 'interactions': {
        const userId = this.atRest(idField(get, 'USER_ID'));
        const itemId = idField(get, 'ITEM_ID');
        const sentAt = secondsField(get, 'TIMESTAMP');
        const eventType = eventTypeField(get);
        const eventValue = numberField(get, 'EVENT_VALUE');
        const sessionId = optionalId(get, 'SESSION_ID') ?? 'import';
        const entry: NewInteractionEntry = {
          kind: 'interaction',
          sessionId,
          userId,
          eventType,
          itemId,
          ...(eventValue === undefined ? {} : { eventValue }),
          sentAt,
          receivedAt: this.now(),
        };
        if (this.options.categoryOf !== undefined) {
          const itemCategory = this.options.categoryOf(itemId);
          if (itemCategory !== undefined) entry.itemCategory = itemCategory;
        }
        this.interactions.push({ key: userKey(userId), entry });
        return;
      }
      case 'items': {
        const itemId = idField(get, 'ITEM_ID');
        const update: CatalogItemUpdate = { itemId };
        const title = textField(get, 'TITLE', TITLE_MAX);
        if (title !== undefined) update.title = title;
        const price = numberField(get, 'PRICE');
        if (price !== undefined) {
          if (price < 0) throw new RowRejected('PRICE is not a non-negative number');
          update.price = price;
        }
        const inStock = booleanField(get, 'IN_STOCK');
        if (inStock !== undefined) update.inStock = inStock;
        const category = categoryField(get);
        if (category !== undefined) update.category = category;
        this.items.push(update);
        return;
      }
      case 'users': {
        const userId = this.atRest(idField(get, 'USER_ID'));
        const attributes: UserAttributes = {};
        for (const name of names) {
          if (name === 'USER_ID') continue;
          const value = get(name);
          if (value === undefined || value === '') continue;
          if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new RowRejected(`${name} is not a string, number or boolean`);
          const text = String(value);
          if (text.length > ATTRIBUTE_MAX) throw new RowRejected(`${name} longer than ${ATTRIBUTE_MAX} characters`);
          attributes[name] = text;
        }
        this.users.push({ userId, attributes });
        return;
      }
    }
  }

  private async reject(row: number, reason: string): Promise<void> {
    const error: RowError = { file: this.path, row, reason };
    this.counts.rejected++;
    this.report.errorCount++;
    if (this.report.errors.length < this.maxErrors) this.report.errors.push(error);
    await this.options.onRowError?.(error);
  }

  private atRest(userId: string): string {
    return this.options.userIdAtRest === undefined ? userId : this.options.userIdAtRest(userId);
  }

  private async flushUsers(): Promise<void> {
    if (this.users.length === 0) return;
    const chunk = this.users;
    this.users = [];
    const optedOut = this.options.optedOut;
    const users = optedOut === undefined ? chunk : (await Promise.all(chunk.map(async (user) => ((await optedOut(user.userId)) ? null : user)))).filter((user) => user !== null);
    await this.options.stores.users.put(users);
    if (this.report.users !== null) {
      this.report.users.imported += users.length;
      if (users.length < chunk.length) this.report.users.optedOut = (this.report.users.optedOut ?? 0) + chunk.length - users.length;
    }
    this.syncCounters();
  }

  private async flushItems(): Promise<void> {
    if (this.items.length === 0) return;
    const updates = this.items;
    this.items = [];
    const stored = await this.options.stores.catalog.upsert(updates);
    if (this.report.items !== null) this.report.items.imported += updates.length;
    this.options.onItems?.(stored);
    this.syncCounters();
  }

  private async flushInteractions(): Promise<void> {
    if (this.interactions.length === 0) return;
    const chunk = this.interactions;
    this.interactions = [];
    if (this.options.categoryOf === undefined) await this.enrichFromCatalog(chunk);
    const byKey = new Map<string, NewInteractionEntry[]>();
    for (const { key, entry } of chunk) {
      const entries = byKey.get(key);
      if (entries === undefined) byKey.set(key, [entry]);
      else entries.push(entry);
    }
    const append = this.options.appendKey ?? ((key: string, entries: readonly NewInteractionEntry[]) => appendInOrder(this.options.stores.log, key, entries));
    const counts = this.report.interactions;
    try {
      await forEachLimited([...byKey], this.options.concurrency ?? DEFAULT_CONCURRENCY, async ([key, entries]) => {
        const userId = entries[0].userId;
        if (userId !== undefined && this.options.optedOut !== undefined && (await this.options.optedOut(userId))) {
          if (counts !== null) counts.optedOut = (counts.optedOut ?? 0) + entries.length;
          return;
        }
        const stored = await append(key, entries);
        if (counts !== null) counts.imported += stored.length;
        if (this.options.onInteraction !== undefined) for (const entry of stored) this.options.onInteraction(entry);
      });
    } finally {
      this.syncCounters();
    }
  }

  /** One catalog read per chunk for the categories of its items. */
  private async enrichFromCatalog(chunk: readonly PendingInteraction[]): Promise<void> {
    const ids = [...new Set(chunk.map(({ entry }) => entry.itemId))];
    const categories = new Map((await this.options.stores.catalog.get(ids)).map((item) => [item.itemId, item.category]));
    for (const { entry } of chunk) {
      const category = categories.get(entry.itemId);
      if (category !== undefined) entry.itemCategory = category;
    }
  }

  private progress(done: boolean): void {
    this.options.onProgress?.({ kind: this.kind, file: this.path, rows: this.counts.read, rejected: this.counts.rejected, done });
  }

  /** Reports the counts added since the last call to the counters. */
  private syncCounters(): void {
    const done = (this.kind === 'users' ? this.report.users : this.kind === 'items' ? this.report.items : this.report.interactions)?.imported ?? 0;
    const counters = this.options.counters;
    if (counters !== undefined) {
      if (done > this.counted.done) counters.rows(this.kind, 'imported', done - this.counted.done);
      if (this.counts.rejected > this.counted.rejected) counters.rows(this.kind, 'rejected', this.counts.rejected - this.counted.rejected);
    }
    this.counted.done = done;
    this.counted.rejected = this.counts.rejected;
  }
}

async function appendInOrder(log: Stores['log'], key: string, entries: readonly NewInteractionEntry[]): Promise<InteractionEntry[]> {
  const stored: InteractionEntry[] = [];
  for (const entry of entries) stored.push((await log.append(key, entry)) as InteractionEntry);
  return stored;
}

/** Runs `work` on every item, at most `limit` at a time; rejects with the first failure once all settled. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
}

// ---- field validation: each throws RowRejected with the reason a person reads in the report ----
// A reason names the column, never its value: the report and the job's status must not echo what
// a file holds (a path given by mistake, or on purpose, may be a file of secrets).

function idField(get: Fields, name: string): string {
  const value = get(name);
  if (value === undefined) throw new RowRejected(`missing ${name}`);
  const text = asText(value, name).trim();
  if (text === '') throw new RowRejected(`empty ${name}`);
  if (text.length > ID_MAX) throw new RowRejected(`${name} longer than ${ID_MAX} characters`);
  return text;
}

function optionalId(get: Fields, name: string): string | undefined {
  const value = get(name);
  if (value === undefined) return undefined;
  const text = asText(value, name).trim();
  if (text === '') return undefined;
  if (text.length > ID_MAX) throw new RowRejected(`${name} longer than ${ID_MAX} characters`);
  return text;
}

function textField(get: Fields, name: string, max: number): string | undefined {
  const value = get(name);
  if (value === undefined) return undefined;
  const text = asText(value, name).trim();
  if (text === '') return undefined;
  if (text.length > max) throw new RowRejected(`${name} longer than ${max} characters`);
  return text;
}

/** Strings as they are; JSON numbers as their text; anything else is rejected. */
function asText(value: unknown, name: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new RowRejected(`${name} is not a string`);
}

/** Unix seconds (fractions allowed) to epoch ms. */
function secondsField(get: Fields, name: string): number {
  const value = get(name);
  if (value === undefined) throw new RowRejected(`missing ${name}`);
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && DECIMAL.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(seconds) || seconds < 0) throw new RowRejected(`${name} is not Unix seconds`);
  if (seconds > MAX_SECONDS) throw new RowRejected(`${name} is not Unix seconds (milliseconds?)`);
  return Math.round(seconds * 1000);
}

/** A finite number, or undefined when absent or empty. */
function numberField(get: Fields, name: string): number | undefined {
  const value = get(name);
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) return undefined;
  const number = typeof value === 'number' ? value : typeof value === 'string' && DECIMAL.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(number)) throw new RowRejected(`${name} is not a number`);
  return number;
}

function booleanField(get: Fields, name: string): boolean | undefined {
  const value = get(name);
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) return undefined;
  if (typeof value === 'boolean') return value;
  const text = typeof value === 'string' ? value.trim().toLowerCase() : typeof value === 'number' ? String(value) : '';
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new RowRejected(`${name} is not true, false, 1 or 0`);
}

function eventTypeField(get: Fields): string {
  const value = get('EVENT_TYPE');
  if (value === undefined) return CSV_DEFAULT_EVENT_TYPE;
  const text = asText(value, 'EVENT_TYPE').trim();
  if (text === '') return CSV_DEFAULT_EVENT_TYPE;
  if (text.length > EVENT_TYPE_MAX || !EVENT_TYPE_PATTERN.test(text)) {
    throw new RowRejected(`EVENT_TYPE is not an event type (1 to ${EVENT_TYPE_MAX} of A-Z a-z 0-9 _ . : -)`);
  }
  return text;
}

/** The first category column present; a multi-valued cell ("a|b", or a JSON array) gives its first value. */
function categoryField(get: Fields): string | undefined {
  for (const name of CATEGORY_COLUMNS) {
    const value = get(name);
    if (value === undefined) continue;
    const first = Array.isArray(value) ? (value.length === 0 ? '' : (value[0] as unknown)) : value;
    const category = asText(first, name).split('|')[0].trim();
    if (category === '') return undefined;
    if (category.length > ID_MAX) throw new RowRejected(`${name} longer than ${ID_MAX} characters`);
    return category;
  }
  return undefined;
}

// ---- reading: CSV records and JSONL objects, streamed with bounded buffers ----
// Each stage hands on the rows of one read chunk (64 KiB) at a time: one await per chunk, not per row.

/** `batches`, with a failure to read `path` thrown as a ReadError. */
async function* readingFile<T>(path: string, batches: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield* batches;
  } catch (err) {
    throw new ReadError(path, err);
  }
}

/** CSV rows, a chunk at a time: the first record is the header; it must name every `required` column. */
async function* csvRows(path: string, required: readonly string[]): AsyncGenerator<RawRow[]> {
  let columns: Map<string, number> | null = null;
  let headerNames: readonly string[] = [];
  let width = 0;
  const toRows = (records: readonly CsvRecord[]): RawRow[] => {
    const rows: RawRow[] = [];
    for (const record of records) {
      if (columns === null) {
        if (record.fields === null) throw new DatasetError(path, record.row, `unreadable header: ${record.error ?? 'not CSV'}`);
        const names = record.fields.map((name) => name.trim().toUpperCase());
        const missing = required.filter((name) => !names.includes(name));
        if (missing.length > 0) {
          throw new DatasetError(path, record.row, `header lacks column ${missing.join(', ')} (expected ${required.join(', ')})`);
        }
        const index = new Map<string, number>();
        names.forEach((name, at) => {
          if (!index.has(name)) index.set(name, at);
        });
        columns = index;
        headerNames = [...index.keys()];
        width = names.length;
        continue;
      }
      if (record.fields === null) rows.push({ row: record.row, fields: null, error: record.error });
      else if (record.fields.length !== width) rows.push({ row: record.row, fields: null, error: `expected ${width} fields like the header, found ${record.fields.length}` });
      else {
        const values = record.fields;
        const index = columns;
        rows.push({
          row: record.row,
          names: headerNames,
          fields: (name) => {
            const at = index.get(name);
            return at === undefined ? undefined : values[at];
          },
          error: null,
        });
      }
    }
    return rows;
  };
  for await (const records of readingFile(path, csvRecords(path, { maxRecordChars: MAX_RECORD_CHARS }))) {
    const rows = toRows(records);
    if (rows.length > 0) yield rows;
  }
  if (columns === null) throw new DatasetError(path, 1, `empty file (expected a header with ${required.join(', ')})`);
}

/** JSONL rows, a chunk at a time: one JSON object per non-blank line; keys match field names in any letter case. */
async function* jsonlRows(path: string): AsyncGenerator<RawRow[]> {
  for await (const lines of readingFile(path, numberedLines(path, { maxLineChars: MAX_RECORD_CHARS }))) {
    const rows: RawRow[] = [];
    for (const line of lines) {
      if (line.overlong) {
        rows.push({ row: line.number, fields: null, error: `line longer than ${MAX_RECORD_CHARS} characters` });
        continue;
      }
      if (isBlank(line.text)) continue;
      let value: unknown;
      try {
        value = JSON.parse(line.text);
      } catch {
        // JSON.parse's message quotes the line: name where it breaks instead.
        rows.push({ row: line.number, fields: null, error: `invalid JSON at byte ${jsonErrorByte(line.text) ?? 0} of the line` });
        continue;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        rows.push({ row: line.number, fields: null, error: 'not a JSON object' });
        continue;
      }
      const byName = new Map<string, unknown>();
      for (const [key, field] of Object.entries(value)) {
        if (field !== null && field !== undefined) byName.set(key.toUpperCase(), field);
      }
      rows.push({ row: line.number, fields: (name) => byName.get(name), names: [...byName.keys()], error: null });
    }
    if (rows.length > 0) yield rows;
  }
}
