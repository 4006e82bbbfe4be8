import type { Interaction } from '../model/types.js';
import { csvRecords } from '../lib/csv.js';
import { isBlank, numberedLines, type NumberedLine } from '../lib/lines.js';

/** The data set formats `attune train` and `attune evaluate` read. */
export const DATASET_FORMATS = ['s3rec', 'rsc15', 'csv'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

export function isDatasetFormat(value: string): value is DatasetFormat {
  return (DATASET_FORMATS as readonly string[]).includes(value);
}

/**
 * s3rec files have no time: a user's n-th item (from 0) is given the timestamp
 * S3REC_EPOCH_MS + n * S3REC_STEP_MS. One minute apart keeps the order and, with a long reducer
 * half-life, makes the reducer's recency purely positional (its `positionDecay`).
 */
export const S3REC_EPOCH_MS = Date.UTC(2020, 0, 1);
export const S3REC_STEP_MS = 60_000;
/** Event types given to formats that have none. */
export const S3REC_EVENT_TYPE = 'view';
export const RSC15_EVENT_TYPE = 'click';
export const CSV_DEFAULT_EVENT_TYPE = 'interaction';

/** A malformed input line; `line` is 1-based. */
export class DatasetError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'DatasetError';
  }
}

export type LineProgress = (lines: number) => void;

export interface ReadOptions {
  /** Called every PROGRESS_LINES lines with the count so far (for progress on stderr). */
  onProgress?: LineProgress;
}

const PROGRESS_LINES = 100_000;

/** The file's lines one at a time (these readers keep no line-length limit). */
async function* linesOf(path: string): AsyncGenerator<NumberedLine> {
  for await (const lines of numberedLines(path)) yield* lines;
}

/**
 * s3rec (S3-Rec's public files): one user per line, `user item item ...`, whitespace separated,
 * items in time order. Timestamps are synthesized from positions (see S3REC_EPOCH_MS).
 */
export async function readS3Rec(path: string, options: ReadOptions = {}): Promise<Interaction[]> {
  const out: Interaction[] = [];
  const firstLine = new Map<string, number>();
  for await (const { text: line, number } of linesOf(path)) {
    if (options.onProgress && number % PROGRESS_LINES === 0) options.onProgress(number);
    if (isBlank(line)) continue;
    const [userId, ...items] = line.trim().split(/\s+/);
    if (items.length === 0) throw new DatasetError(path, number, `user ${userId} has no items (expected "user item item ...")`);
    const seen = firstLine.get(userId);
    if (seen !== undefined) throw new DatasetError(path, number, `user ${userId} appears again (first on line ${seen})`);
    firstLine.set(userId, number);
    items.forEach((itemId, n) => {
      out.push({ userId, itemId, timestamp: S3REC_EPOCH_MS + n * S3REC_STEP_MS, eventType: S3REC_EVENT_TYPE });
    });
  }
  if (out.length === 0) throw new DatasetError(path, 1, 'no users (expected lines "user item item ...")');
  return out;
}

function parseSeconds(text: string): number | null {
  if (!/^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text.trim())) return null;
  const seconds = Number(text);
  return Number.isFinite(seconds) ? Math.round(seconds * 1000) : null;
}

/**
 * rsc15 (session-rec's prepared YooChoose files): tab-separated, a header naming SessionId,
 * ItemId and Time (Unix seconds, fractions allowed) in any order. The session is the user.
 */
export async function readRsc15(path: string, options: ReadOptions = {}): Promise<Interaction[]> {
  const out: Interaction[] = [];
  let columns: { session: number; item: number; time: number; count: number } | null = null;
  for await (const { text: line, number } of linesOf(path)) {
    if (options.onProgress && number % PROGRESS_LINES === 0) options.onProgress(number);
    if (isBlank(line)) continue;
    const fields = line.split('\t');
    if (columns === null) {
      const names = fields.map((f) => f.trim());
      const find = (name: string): number => {
        const at = names.indexOf(name);
        if (at < 0) throw new DatasetError(path, number, `header lacks column ${name} (expected "SessionId\\tItemId\\tTime", tab-separated)`);
        return at;
      };
      columns = { session: find('SessionId'), item: find('ItemId'), time: find('Time'), count: fields.length };
      continue;
    }
    if (fields.length !== columns.count) {
      throw new DatasetError(path, number, `expected ${columns.count} tab-separated fields, found ${fields.length}`);
    }
    const userId = fields[columns.session].trim();
    const itemId = fields[columns.item].trim();
    if (userId === '') throw new DatasetError(path, number, 'empty SessionId');
    if (itemId === '') throw new DatasetError(path, number, 'empty ItemId');
    const timestamp = parseSeconds(fields[columns.time]);
    if (timestamp === null) throw new DatasetError(path, number, `Time ${JSON.stringify(fields[columns.time])} is not a number of seconds`);
    out.push({ userId, itemId, timestamp, eventType: RSC15_EVENT_TYPE });
  }
  if (columns === null) throw new DatasetError(path, 1, 'empty file (expected a header "SessionId\\tItemId\\tTime")');
  return out;
}

/** CSV records with the line each starts on; an unreadable record is an error. */
async function* csvRecordsOf(path: string): AsyncGenerator<[string[], number]> {
  for await (const records of csvRecords(path)) {
    for (const { row, fields, error } of records) {
      if (fields === null) throw new DatasetError(path, row, error ?? 'not CSV');
      yield [fields, row];
    }
  }
}

function headerIndex(path: string, line: number, header: string[]): (name: string, required: boolean) => number {
  const names = header.map((h) => h.trim().toUpperCase());
  return (name, required) => {
    const at = names.indexOf(name);
    if (at < 0 && required) {
      throw new DatasetError(path, line, `header lacks column ${name} (found ${header.map((h) => h.trim()).join(', ')})`);
    }
    return at;
  };
}

/**
 * Amazon Personalize-style interactions CSV: a header with USER_ID, ITEM_ID, TIMESTAMP (Unix
 * seconds) and optionally EVENT_TYPE and EVENT_VALUE, in any order and any letter case; other
 * columns are ignored. A missing or empty EVENT_TYPE reads as "interaction".
 */
export async function readPersonalizeCsv(path: string, options: ReadOptions = {}): Promise<Interaction[]> {
  const out: Interaction[] = [];
  let columns: { user: number; item: number; time: number; type: number; value: number; count: number } | null = null;
  for await (const [fields, number] of csvRecordsOf(path)) {
    if (options.onProgress && number % PROGRESS_LINES === 0) options.onProgress(number);
    if (columns === null) {
      const index = headerIndex(path, number, fields);
      columns = {
        user: index('USER_ID', true),
        item: index('ITEM_ID', true),
        time: index('TIMESTAMP', true),
        type: index('EVENT_TYPE', false),
        value: index('EVENT_VALUE', false),
        count: fields.length,
      };
      continue;
    }
    if (fields.length !== columns.count) {
      throw new DatasetError(path, number, `expected ${columns.count} fields like the header, found ${fields.length}`);
    }
    const userId = fields[columns.user].trim();
    const itemId = fields[columns.item].trim();
    if (userId === '') throw new DatasetError(path, number, 'empty USER_ID');
    if (itemId === '') throw new DatasetError(path, number, 'empty ITEM_ID');
    const timestamp = parseSeconds(fields[columns.time]);
    if (timestamp === null) {
      throw new DatasetError(path, number, `TIMESTAMP ${JSON.stringify(fields[columns.time])} is not Unix seconds`);
    }
    const eventType = columns.type >= 0 ? fields[columns.type].trim() : '';
    const interaction: Interaction = { userId, itemId, timestamp, eventType: eventType === '' ? CSV_DEFAULT_EVENT_TYPE : eventType };
    if (columns.value >= 0 && fields[columns.value].trim() !== '') {
      const value = Number(fields[columns.value]);
      if (!Number.isFinite(value)) throw new DatasetError(path, number, `EVENT_VALUE ${JSON.stringify(fields[columns.value])} is not a number`);
      interaction.eventValue = value;
    }
    out.push(interaction);
  }
  if (columns === null) throw new DatasetError(path, 1, 'empty file (expected a header with USER_ID, ITEM_ID, TIMESTAMP)');
  return out;
}

export async function readInteractions(path: string, format: DatasetFormat, options: ReadOptions = {}): Promise<Interaction[]> {
  switch (format) {
    case 's3rec':
      return readS3Rec(path, options);
    case 'rsc15':
      return readRsc15(path, options);
    case 'csv':
      return readPersonalizeCsv(path, options);
  }
}

export interface CatalogEntry {
  itemId: string;
  category?: string;
}

/** Category columns looked for in an items CSV, first found wins; multi-valued cells keep their first value. */
export const CATEGORY_COLUMNS = ['CATEGORY_L1', 'CATEGORY', 'CATEGORIES', 'GENRE', 'GENRES'] as const;

/**
 * Items CSV (Amazon Personalize-style): ITEM_ID plus any columns; the first of CATEGORY_COLUMNS
 * present gives each item's category (the part before a "|"). Duplicate ids are an error.
 */
export async function readItemsCsv(path: string): Promise<CatalogEntry[]> {
  const out: CatalogEntry[] = [];
  const firstLine = new Map<string, number>();
  let columns: { item: number; category: number; count: number } | null = null;
  for await (const [fields, number] of csvRecordsOf(path)) {
    if (columns === null) {
      const index = headerIndex(path, number, fields);
      const category = CATEGORY_COLUMNS.map((name) => index(name, false)).find((at) => at >= 0) ?? -1;
      columns = { item: index('ITEM_ID', true), category, count: fields.length };
      continue;
    }
    if (fields.length !== columns.count) {
      throw new DatasetError(path, number, `expected ${columns.count} fields like the header, found ${fields.length}`);
    }
    const itemId = fields[columns.item].trim();
    if (itemId === '') throw new DatasetError(path, number, 'empty ITEM_ID');
    const seen = firstLine.get(itemId);
    if (seen !== undefined) throw new DatasetError(path, number, `item ${itemId} appears again (first on line ${seen})`);
    firstLine.set(itemId, number);
    const entry: CatalogEntry = { itemId };
    if (columns.category >= 0) {
      const category = fields[columns.category].split('|')[0].trim();
      if (category !== '') entry.category = category;
    }
    out.push(entry);
  }
  if (columns === null) throw new DatasetError(path, 1, 'empty file (expected a header with ITEM_ID)');
  return out;
}

export interface MinimumData {
  interactions: number;
  users: number;
  perUser: number;
}

/** What `attune train` refuses to train on (issue 3). */
export const MINIMUM_DATA: Readonly<MinimumData> = Object.freeze({ interactions: 1000, users: 25, perUser: 2 });

export class InsufficientDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InsufficientDataError';
  }
}

/**
 * Refuses data below the minimum, naming the condition that failed: too few interactions, too
 * few users, or users with too few interactions (the first such user, in input order, and how
 * many there are). `what` names a user in messages ("session" for session data).
 */
export function checkMinimumData(
  interactions: readonly Interaction[],
  minimum: MinimumData = MINIMUM_DATA,
  what = 'user',
): void {
  if (interactions.length < minimum.interactions) {
    throw new InsufficientDataError(
      `${interactions.length} interactions; training needs at least ${minimum.interactions}`,
    );
  }
  const perUser = new Map<string, number>();
  for (const { userId } of interactions) perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
  if (perUser.size < minimum.users) {
    throw new InsufficientDataError(`${perUser.size} ${what}s; training needs at least ${minimum.users}`);
  }
  let first: [string, number] | null = null;
  let short = 0;
  for (const [user, count] of perUser) {
    if (count < minimum.perUser) {
      short++;
      first ??= [user, count];
    }
  }
  if (first !== null) {
    const [user, count] = first;
    const others = short > 1 ? ` (and ${short - 1} more ${what}s below the minimum)` : '';
    throw new InsufficientDataError(
      `${what} ${user} has ${count} interaction${count === 1 ? '' : 's'}; every ${what} needs at least ${minimum.perUser}${others}`,
    );
  }
}
