import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { csvRecords, splitCsvRecord, type CsvOptions, type CsvRecord } from '../../src/lib/csv.js';

async function fixture(t: Test, content: string): Promise<string> {
  const path = join(t.testdir(), 'data.csv');
  await writeFile(path, content);
  return path;
}

/** Every record of the file, batches joined. */
async function records(path: string, options?: CsvOptions): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const batch of csvRecords(path, options)) out.push(...batch);
  return out;
}

const good = (row: number, fields: string[]): CsvRecord => ({ row, fields, error: null });
const bad = (row: number, error: string): CsvRecord => ({ row, fields: null, error });

t.test('splitCsvRecord: quotes, commas and "" inside them, empty fields; null while a quote is open', async (t) => {
  t.strictSame(splitCsvRecord('a,"b,c",,"d""e"'), ['a', 'b,c', '', 'd"e']);
  t.strictSame(splitCsvRecord(''), ['']);
  t.strictSame(splitCsvRecord('a,b"c",'), ['a', 'b"c"', ''], 'a quote inside an unquoted field is data');
  t.strictSame(splitCsvRecord('"a\nb",c'), ['a\nb', 'c']);
  t.equal(splitCsvRecord('a,"open'), null);
  t.equal(splitCsvRecord('"x""'), null, '"" inside quotes does not close them');
});

t.test('records: multi-line quoted fields start on their first line; blank lines, CRLF and a BOM', async (t) => {
  const path = await fixture(t, '\uFEFFA,B\r\n1,"x, y"\r\n\r\n  \n"multi\n\nline",2\n"q""uote",3');
  t.strictSame(await records(path), [
    good(1, ['A', 'B']),
    good(2, ['1', 'x, y']),
    good(5, ['multi\n\nline', '2']),
    good(8, ['q"uote', '3']),
  ]);
});

t.test('a quote still open at the end of the file: one unreadable record, then its later lines read again', async (t) => {
  const path = await fixture(t, 'A,B\n1,"open\n2,3\n\n4,5\n');
  t.strictSame(await records(path), [
    good(1, ['A', 'B']),
    bad(2, 'quoted field is not closed before the end of the file'),
    good(3, ['2', '3']),
    good(5, ['4', '5']),
  ]);
});

t.test('maxRecordChars: an overlong line and an overlong multi-line record are unreadable records', async (t) => {
  const path = await fixture(t, ['A,B', 'x'.repeat(12), '1,2', '"a', '123456', '7,8', '9,0'].join('\n'));
  t.strictSame(await records(path, { maxRecordChars: 10 }), [
    good(1, ['A', 'B']),
    bad(2, 'line longer than 10 characters'),
    good(3, ['1', '2']),
    bad(4, 'quoted field is not closed within 10 characters'),
    good(5, ['123456']),
    good(6, ['7', '8']),
    good(7, ['9', '0']),
  ]);
  t.strictSame(await records(path), [
    good(1, ['A', 'B']),
    good(2, ['x'.repeat(12)]),
    good(3, ['1', '2']),
    bad(4, 'quoted field is not closed before the end of the file'),
    good(5, ['123456']),
    good(6, ['7', '8']),
    good(7, ['9', '0']),
  ]);
});

t.test('a line break inside a quoted field, and a CRLF, at the edge of a read chunk', async (t) => {
  // Reads are 64 KiB: 5957 filler lines and what follows end the first chunk exactly where the test says.
  const filler = Array.from({ length: 5957 }, (_, i) => String(i).padStart(8, '0') + ',x').join('\n');
  const quoted = `${filler}\n"crossing`;
  t.equal(quoted.length, 1 << 16);
  const inQuotes = await records(await fixture(t, `${quoted}\nthe edge",y\nlast,z\n`));
  t.equal(inQuotes.length, 5959);
  t.strictSame(inQuotes.slice(0, 2), [good(1, ['00000000', 'x']), good(2, ['00000001', 'x'])]);
  t.strictSame(inQuotes.slice(-2), [good(5958, ['crossing\nthe edge', 'y']), good(5960, ['last', 'z'])]);
  const crlf = `${filler}\npppppp,z\r`;
  t.equal(crlf.length, 1 << 16);
  const split = await records(await fixture(t, `${crlf}\nend,w\r\n`));
  t.strictSame(split.slice(-2), [good(5958, ['pppppp', 'z']), good(5959, ['end', 'w'])]);
});

t.test('a file that cannot be read rejects with the read error itself', async (t) => {
  await t.rejects(records(join(t.testdir(), 'missing.csv')), { code: 'ENOENT' });
});
