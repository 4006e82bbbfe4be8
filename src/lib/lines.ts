import { createReadStream } from 'node:fs';

/** One line of a file, without its line break. */
export interface NumberedLine {
  /** 1-based. */
  number: number;
  text: string;
  /** Longer than the reader's `maxLineChars`: `text` is empty and the rest of the line was skipped. */
  overlong: boolean;
}

export interface LineOptions {
  /** Lines longer than this come back `overlong`, so one huge line cannot exhaust memory. Default: no limit. */
  maxLineChars?: number;
}

/** Bytes read at a time; each batch of lines is what one read completed. */
const CHUNK_BYTES = 1 << 16;

/**
 * Streams a UTF-8 file's lines with their 1-based numbers, a batch per read chunk (one await per
 * chunk, not per line). Lines end at LF; a CR before the LF and a BOM at the start of the file are
 * dropped. Errors of the read stream (a missing file, a directory) are thrown as they are.
 */
export async function* numberedLines(path: string, options: LineOptions = {}): AsyncGenerator<NumberedLine[]> {
  const max = options.maxLineChars ?? Infinity;
  let pending = '';
  let overlong = false;
  let number = 0;
  const make = (text: string): NumberedLine => {
    number++;
    if (overlong || text.length > max + 1) return { number, text: '', overlong: true };
    let clean = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (number === 1 && clean.startsWith('\uFEFF')) clean = clean.slice(1);
    return { number, text: clean, overlong: false };
  };
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: CHUNK_BYTES });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const lines: NumberedLine[] = [];
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
        lines.push(make(overlong ? '' : pending + chunk.slice(start, nl)));
        start = nl + 1;
        pending = '';
        overlong = false;
      }
      if (!overlong) {
        pending += chunk.slice(start);
        // +1: room for the CR of a CRLF ending still to come.
        if (pending.length > max + 1) {
          overlong = true;
          pending = '';
        }
      }
      if (lines.length > 0) yield lines;
    }
    if (pending !== '' || overlong) yield [make(pending)];
  } finally {
    stream.destroy();
  }
}

export function isBlank(text: string): boolean {
  return text.trim() === '';
}
