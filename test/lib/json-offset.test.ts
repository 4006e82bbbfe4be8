import t from 'tap';
import { jsonErrorByte, jsonErrorIndex } from '../../src/lib/json-offset.js';

t.test('the index where a text stops being JSON', async (t) => {
  const cases: Array<[string, number | null]> = [
    ['{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]}', null],
    ['  "just a string"  ', null],
    ['[[[[]]]]', null],
    ['', 0],
    ['   ', 3],
    ['root:x:0:0', 0],
    ['{"a": 1,}', 8],
    ['{"a" 1}', 5],
    ['{"a": 1} x', 9],
    ['{"a": tru}', 9],
    ['{"a": "b', 8],
    ['[1, 2', 5],
    ['[1 2]', 3],
    ['{a: 1}', 1],
    ['"tab\there"', 4],
    ['"bad \\q escape"', 6],
    ['"\\u12G4"', 5],
    ['-', 1],
    ['01', 1],
    ['[1,]', 3],
    ['{"a": 1]', 7],
  ];
  for (const [text, at] of cases) t.equal(jsonErrorIndex(text), at, JSON.stringify(text));
});

t.test('deep nesting neither overflows nor hides the fault', async (t) => {
  t.equal(jsonErrorIndex('['.repeat(200_000) + ']'.repeat(200_000)), null);
  t.equal(jsonErrorIndex('['.repeat(200_000) + 'x'), 200_000);
});

t.test('agrees with JSON.parse: valid exactly when it parses, and at the position V8 names', async (t) => {
  const seeds = ['{"user_id": "carol", "n": [1, 2.5, -3e2, true, null], "s": "a\\"b\\\\c\\u0041"}', '[{"a": {}}, [], "", 0]', '"x"', '-0.5E+10'];
  const junk = ['', 'x', ',', ':', '"', '{', '}', '[', ']', '\\', ' ', '0', '-', '.', 'e', '\u0001'];
  let named = 0;
  for (const seed of seeds) {
    for (let at = 0; at <= seed.length; at++) {
      for (const piece of junk) {
        for (const text of [seed.slice(0, at) + piece + seed.slice(at), seed.slice(0, at) + piece + seed.slice(at + 1)]) {
          let message: string | null = null;
          try {
            JSON.parse(text);
          } catch (err) {
            message = (err as Error).message;
          }
          const found = jsonErrorIndex(text);
          if (message === null) {
            if (found !== null) t.fail(`${JSON.stringify(text)} parses, but the scanner says ${found}`);
            continue;
          }
          if (found === null) t.fail(`${JSON.stringify(text)} does not parse (${message}), but the scanner says it is valid`);
          const position = /at position (\d+)/.exec(message);
          const v8 = position !== null ? Number(position[1]) : message === 'Unexpected end of JSON input' ? text.length : null;
          if (v8 === null) continue;
          named++;
          if (found !== v8) t.fail(`${JSON.stringify(text)}: V8 says ${v8} (${message}), the scanner ${found}`);
        }
      }
    }
  }
  t.ok(named > 500, `${named} faults compared with V8's position`);
});

t.test('the byte offset counts UTF-8 bytes', async (t) => {
  t.equal(jsonErrorByte('{"k": "üü", x}'), 14);
  t.equal(jsonErrorByte('["€"]'), null);
});
