import { isBlank, numberedLines, type NumberedLine } from './lines.js';

/*
 * CSV as RFC 4180 reads it: fields separated by commas, a field that starts with a quote runs to
 * its closing quote (commas and line breaks inside are data, "" is one quote). Records are
 * streamed from a file with the line each starts on, so callers can name the line at fault.
 */

/**
 * Splits one CSV record. Returns null when a quoted field is still open at the end of the text,
 * so the caller can join the next line.
 */
export function splitCsvRecord(text: string): string[] | null {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  let atFieldStart = true;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
      i++;
      continue;
    }
    if (c === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
      i++;
      continue;
    }
    field += c;
    atFieldStart = false;
    i++;
  }
  if (quoted) return null;
  fields.push(field);
  return fields;
}

/**
 * Whether a record is inside a quoted field after `text`, given whether it was at its start (the
 * rules of splitCsvRecord): lets a record spanning lines be scanned a line at a time.
 */
function endsQuoted(text: string, quotedAtStart: boolean): boolean {
  let quoted = quotedAtStart;
  let atFieldStart = !quotedAtStart;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') i++;
        else quoted = false;
      }
      continue;
    }
    if (c === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
    } else atFieldStart = c === ',';
  }
  return quoted;
}

export interface CsvRecord {
  /** The 1-based line the record starts on. */
  row: number;
  fields: string[] | null;
  /** Why the record could not be read; null when `fields` is set. */
  error: string | null;
}

/**
 * Joins lines into CSV records (quoted fields may span lines), each with the line it starts on;
 * blank lines between records are skipped. A record whose quote is still open at the end of the
 * input or after `maxRecordChars` is one unreadable record (at its first line), and the lines
 * after that first one are read again as records of their own.
 */
class CsvAssembler {
  private open: NumberedLine[] = [];
  private openChars = 0;

  constructor(private readonly maxRecordChars = Infinity) {}

  feed(lines: readonly NumberedLine[], out: CsvRecord[]): void {
    let queue = lines;
    let at = 0;
    while (at < queue.length) {
      const line = queue[at++];
      if (this.open.length === 0) {
        if (line.overlong) out.push({ row: line.number, fields: null, error: `line longer than ${this.maxRecordChars} characters` });
        else if (isBlank(line.text)) continue;
        else if (!endsQuoted(line.text, false)) out.push(toRecord(line.number, line.text));
        else {
          this.open = [line];
          this.openChars = line.text.length;
        }
        continue;
      }
      if (line.overlong || this.openChars + line.text.length + 1 > this.maxRecordChars) {
        const again = this.open.slice(1);
        again.push(line);
        out.push(this.broken(`within ${this.maxRecordChars} characters`));
        queue = again.concat(queue.slice(at));
        at = 0;
        continue;
      }
      this.open.push(line);
      this.openChars += line.text.length + 1;
      if (!endsQuoted(line.text, true)) {
        const first = this.open[0].number;
        const text = this.open.map((l) => l.text).join('\n');
        this.open = [];
        this.openChars = 0;
        out.push(toRecord(first, text));
      }
    }
  }

  /** The end of the input: a record still open is broken. */
  end(out: CsvRecord[]): void {
    while (this.open.length > 0) {
      const again = this.open.slice(1);
      out.push(this.broken('before the end of the file'));
      this.feed(again, out);
    }
  }

  private broken(why: string): CsvRecord {
    const row = this.open[0].number;
    this.open = [];
    this.openChars = 0;
    return { row, fields: null, error: `quoted field is not closed ${why}` };
  }
}

function toRecord(row: number, text: string): CsvRecord {
  const fields = splitCsvRecord(text);
  return fields === null ? { row, fields: null, error: 'quoted field is not closed' } : { row, fields, error: null };
}

export interface CsvOptions {
  /** Longest line, and longest multi-line record, read; longer ones are unreadable records. Default: no limit. */
  maxRecordChars?: number;
}

/**
 * Streams a CSV file's records (see CsvAssembler), a batch per read chunk. Unreadable records
 * come back with their error, in file order, for the caller to reject or throw.
 */
export async function* csvRecords(path: string, options: CsvOptions = {}): AsyncGenerator<CsvRecord[]> {
  const assembler = new CsvAssembler(options.maxRecordChars);
  for await (const lines of numberedLines(path, { maxLineChars: options.maxRecordChars })) {
    const records: CsvRecord[] = [];
    assembler.feed(lines, records);
    if (records.length > 0) yield records;
  }
  const last: CsvRecord[] = [];
  assembler.end(last);
  if (last.length > 0) yield last;
}
