import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { numberedLines, type LineOptions, type NumberedLine } from '../../src/lib/lines.js';

async function lines(t: Test, content: string, options?: LineOptions): Promise<NumberedLine[]> {
  const path = join(t.testdir(), 'lines.txt');
  await writeFile(path, content);
  const out: NumberedLine[] = [];
  for await (const batch of numberedLines(path, options)) out.push(...batch);
  return out;
}

const line = (number: number, text: string): NumberedLine => ({ number, text, overlong: false });

t.test('lines end at LF; the CR of CRLF and a BOM at the start of the file are dropped', async (t) => {
  t.strictSame(await lines(t, '\uFEFFa\r\n\nb\rc\n\uFEFFd'), [line(1, 'a'), line(2, ''), line(3, 'b\rc'), line(4, '\uFEFFd')]);
  t.strictSame(await lines(t, ''), []);
  t.strictSame(await lines(t, 'x\n'), [line(1, 'x')]);
});

t.test('maxLineChars: a longer line comes back overlong and empty, and the next line is read', async (t) => {
  // The limit counts a line with its CR: one character more passes (a CRLF ending never makes a line overlong).
  t.strictSame(await lines(t, 'abcd\r\nabcde\nabcdef\nok', { maxLineChars: 4 }), [
    line(1, 'abcd'),
    line(2, 'abcde'),
    { number: 3, text: '', overlong: true },
    line(4, 'ok'),
  ]);
});
