import t, { type Test } from 'tap';
import {
  allowsItem,
  bindFilter,
  FilterExpressionError,
  parseFilterExpression,
  parseFilterValue,
  type BoundFilter,
  type FilterSubject,
  type ParsedFilter,
} from '../../src/personalize/filter-expression.js';
import type { CatalogItem } from '../../src/store/types.js';

const str = (value: string) => ({ kind: 'string', value }) as const;
const num = (value: number) => ({ kind: 'number', value }) as const;
const param = (name: string) => ({ kind: 'parameter', name }) as const;

/** Asserts the parse throws a FilterExpressionError with exactly this message. */
function parseFails(t: Test, text: string, message: string): void {
  t.throws(() => parseFilterExpression(text), new FilterExpressionError(message), text.length > 120 ? `${text.slice(0, 120)}...` : text);
}

function bindFails(t: Test, text: string, values: Record<string, string>, message: string): void {
  t.throws(() => bindFilter(parseFilterExpression(text), values), new FilterExpressionError(message), `${text} with ${JSON.stringify(values)}`);
}

t.test('the Personalize docs\' item filter examples parse to exact trees', async (t) => {
  const cases: Array<[string, ParsedFilter]> = [
    [
      'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)',
      { expressions: [{ action: 'EXCLUDE', dataset: 'Interactions', where: { type: 'interaction', operator: 'IN', values: [param('EVENT_TYPE')] }, parameters: ['EVENT_TYPE'] }], parameters: ['EVENT_TYPE'] },
    ],
    [
      'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
      { expressions: [{ action: 'EXCLUDE', dataset: 'Interactions', where: { type: 'interaction', operator: 'IN', values: [str('click'), str('stream')] }, parameters: [] }], parameters: [] },
    ],
    [
      'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
      { expressions: [{ action: 'INCLUDE', dataset: 'Interactions', where: { type: 'interaction', operator: 'IN', values: [str('*')] }, parameters: [] }], parameters: [] },
    ],
    [
      'EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)',
      {
        expressions: [{ action: 'EXCLUDE', dataset: 'Items', where: { type: 'item', field: 'category', name: 'CATEGORY', operator: 'IN', values: [param('CATEGORY')] }, parameters: ['CATEGORY'] }],
        parameters: ['CATEGORY'],
      },
    ],
    [
      'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.GENRES NOT IN ("boot")',
      {
        expressions: [
          {
            action: 'EXCLUDE',
            dataset: 'Items',
            where: {
              type: 'and',
              operands: [
                { type: 'item', field: 'category', name: 'CATEGORY_L1', operator: 'IN', values: [str('shoe')] },
                { type: 'item', field: 'category', name: 'GENRES', operator: 'NOT IN', values: [str('boot')] },
              ],
            },
            parameters: [],
          },
        ],
        parameters: [],
      },
    ],
    [
      'INCLUDE ItemID WHERE Items.PRICE <= $PRICE',
      { expressions: [{ action: 'INCLUDE', dataset: 'Items', where: { type: 'item', field: 'price', name: 'PRICE', operator: '<=', value: param('PRICE') }, parameters: ['PRICE'] }], parameters: ['PRICE'] },
    ],
    [
      'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)',
      { expressions: [{ action: 'INCLUDE', dataset: 'Items', where: { type: 'item', field: 'category', name: 'GENRE', operator: 'IN', values: [param('GENRE')] }, parameters: ['GENRE'] }], parameters: ['GENRE'] },
    ],
    [
      'INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")',
      {
        expressions: [
          { action: 'INCLUDE', dataset: 'Items', where: { type: 'item', field: 'category', name: 'CATEGORY', operator: 'IN', values: [param('CATEGORY')] }, parameters: ['CATEGORY'] },
          { action: 'INCLUDE', dataset: 'Interactions', where: { type: 'interaction', operator: 'IN', values: [str('favorite')] }, parameters: [] },
        ],
        parameters: ['CATEGORY'],
      },
    ],
    [
      'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
      {
        expressions: [
          { action: 'INCLUDE', dataset: 'Items', where: { type: 'item', field: 'category', name: 'GENRE', operator: 'IN', values: [param('GENRE')] }, parameters: ['GENRE'] },
          { action: 'EXCLUDE', dataset: 'Interactions', where: { type: 'interaction', operator: 'IN', values: [str('click'), str('stream')] }, parameters: [] },
        ],
        parameters: ['GENRE'],
      },
    ],
  ];
  for (const [text, expected] of cases) t.strictSame(parseFilterExpression(text), expected, text);
});

t.test('keywords, datasets and fields ignore case; whitespace is free; every mapped field', async (t) => {
  t.strictSame(parseFilterExpression('  include   itemid\n\twhere items.genres in("a","b")or ITEMS.Price>=-1.5 and Items.IN_STOCK = 1  '), {
    expressions: [
      {
        action: 'INCLUDE',
        dataset: 'Items',
        where: {
          type: 'or',
          operands: [
            { type: 'item', field: 'category', name: 'genres', operator: 'IN', values: [str('a'), str('b')] },
            {
              type: 'and',
              operands: [
                { type: 'item', field: 'price', name: 'Price', operator: '>=', value: num(-1.5) },
                { type: 'item', field: 'inStock', name: 'IN_STOCK', operator: '=', value: num(1) },
              ],
            },
          ],
        },
        parameters: [],
      },
    ],
    parameters: [],
  });
  const fields = (text: string) => {
    const where = parseFilterExpression(text).expressions[0].where;
    return where.type === 'and' ? where.operands.map((o) => (o.type === 'item' ? o.field : o.type)) : [];
  };
  t.strictSame(
    fields(
      'EXCLUDE ItemID WHERE Items.ITEM_ID = "x" AND Items.title = "T" AND Items.Category = "c" AND Items.CATEGORY_L1 = "c" AND Items.CATEGORIES = "c" ' +
        'AND Items.GENRE = "g" AND Items.genres = "g" AND Items.PRICE = 1 AND Items.in_stock = "FALSE"',
    ),
    ['itemId', 'title', 'category', 'category', 'category', 'category', 'category', 'price', 'inStock'],
  );
  t.strictSame(
    parseFilterExpression('exclude ItemId WHERE interactions.event_type not in ("Click")').expressions[0],
    { action: 'EXCLUDE', dataset: 'Interactions', where: { type: 'interaction', operator: 'NOT IN', values: [str('Click')] }, parameters: [] },
    'event types keep their case as written; binding folds it',
  );
});

t.test('AND binds tighter than OR, chains flatten, parentheses group', async (t) => {
  const a = { type: 'item', field: 'price', name: 'PRICE', operator: '<', value: num(1) } as const;
  const b = { type: 'item', field: 'price', name: 'PRICE', operator: '>', value: num(2) } as const;
  const c = { type: 'item', field: 'category', name: 'CATEGORY', operator: '=', value: str('c') } as const;
  const where = (text: string) => parseFilterExpression(`INCLUDE ItemID WHERE ${text}`).expressions[0].where;
  const A = 'Items.PRICE < 1';
  const B = 'Items.PRICE > 2';
  const C = 'Items.CATEGORY = "c"';
  t.strictSame(where(`${A} OR ${B} AND ${C}`), { type: 'or', operands: [a, { type: 'and', operands: [b, c] }] });
  t.strictSame(where(`${A} AND ${B} OR ${C}`), { type: 'or', operands: [{ type: 'and', operands: [a, b] }, c] });
  t.strictSame(where(`${A} AND ${B} AND ${C}`), { type: 'and', operands: [a, b, c] });
  t.strictSame(where(`${A} or ${B} OR ${C}`), { type: 'or', operands: [a, b, c] });
  t.strictSame(where(`(${A} OR ${B}) AND ${C}`), { type: 'and', operands: [{ type: 'or', operands: [a, b] }, c] });
  t.strictSame(where(`${C} AND (${A} OR (${B}))`), { type: 'and', operands: [c, { type: 'or', operands: [a, b] }] });
  t.strictSame(where(`((${A}))`), a);
});

t.test('parameters: each name once, in order of first use; literals and parameters mix in a list', async (t) => {
  const parsed = parseFilterExpression('INCLUDE ItemID WHERE Items.GENRES IN ("Drama", $G, $H) AND Items.PRICE < $P | EXCLUDE ItemID WHERE Items.PRICE > $P OR Items.GENRES IN ($G2, $G)');
  t.strictSame(parsed.parameters, ['G', 'H', 'P', 'G2']);
  t.strictSame(
    parsed.expressions.map((e) => e.parameters),
    [
      ['G', 'H', 'P'],
      ['P', 'G2', 'G'],
    ],
  );
  t.strictSame(parseFilterExpression('EXCLUDE ItemID WHERE Items.GENRES IN ($lower_1, $1ST)').parameters, ['lower_1', '1ST'], 'names are case-sensitive [A-Za-z0-9_]');
});

t.test('strings are JSON-style; the limits are inclusive', async (t) => {
  const values = (text: string) => {
    const where = parseFilterExpression(text).expressions[0].where;
    return where.type === 'item' && 'values' in where ? where.values : null;
  };
  t.strictSame(values('INCLUDE ItemID WHERE Items.TITLE IN ("say \\"hi\\" \\\\ \\u00e9", "日本 😀", "")'), [str('say "hi" \\ é'), str('日本 😀'), str('')]);
  const hundred = Array.from({ length: 100 }, (_, i) => `"v${i}"`).join(',');
  t.equal(values(`INCLUDE ItemID WHERE Items.ITEM_ID IN (${hundred})`)?.length, 100);
  const prefix = 'INCLUDE ItemID WHERE Items.TITLE IN ("';
  const longest = `${prefix}${'x'.repeat(2500 - prefix.length - 2)}")`;
  t.equal(longest.length, 2500);
  t.equal(values(longest)?.length, 1);
  t.strictSame(values('INCLUDE ItemID WHERE Items.PRICE IN (1, 2.5, -3, 1e2)'), [num(1), num(2.5), num(-3), num(100)]);
});

t.test('parse errors say what was expected and where (1-based positions)', async (t) => {
  parseFails(t, '', 'filter expression is empty');
  parseFails(t, '  \n ', 'filter expression is empty');
  parseFails(t, `INCLUDE ItemID WHERE Items.TITLE IN ("${'x'.repeat(2500)}")`, 'filter expression is 2540 characters long; the limit is 2500');
  parseFails(t, 'ItemID WHERE Items.PRICE < 1', 'expected INCLUDE or EXCLUDE at position 1, found "ItemID"');
  parseFails(t, 'INCLUDE UserID WHERE Users.AGE < 5', 'expected ItemID after INCLUDE at position 9, found "UserID" (only item filters are supported)');
  parseFails(t, 'EXCLUDE ActionID WHERE Actions.X IN ("a")', 'expected ItemID after EXCLUDE at position 9, found "ActionID" (only item filters are supported)');
  parseFails(t, 'EXCLUDE Items WHERE Items.PRICE < 1', 'expected ItemID after EXCLUDE at position 9, found "Items"');
  parseFails(t, 'EXCLUDE ItemID Items.PRICE < 1', 'expected WHERE after ItemID at position 16, found "Items"');
  parseFails(t, 'EXCLUDE ItemID WHERE', 'expected a condition (Items.<FIELD> or Interactions.EVENT_TYPE) at position 21, found the end of the expression');
  parseFails(t, 'EXCLUDE ItemID WHERE "x"', 'expected a condition (Items.<FIELD> or Interactions.EVENT_TYPE) at position 22, found "\\"x\\""');
  parseFails(t, 'EXCLUDE ItemID WHERE Users.AGE < 5', 'unsupported dataset "Users" at position 22: item filters take Items.<FIELD> or Interactions.EVENT_TYPE conditions');
  parseFails(t, 'INCLUDE ItemID WHERE CurrentItem.PRICE > 1', 'unsupported dataset "CurrentItem" at position 22: item filters take Items.<FIELD> or Interactions.EVENT_TYPE conditions');
  parseFails(t, 'EXCLUDE ItemID WHERE Items PRICE < 1', 'expected . after Items at position 28, found "PRICE"');
  parseFails(t, 'EXCLUDE ItemID WHERE Items.', 'expected a field name after Items. at position 28, found the end of the expression');
  parseFails(t, 'EXCLUDE ItemID WHERE Items.DESCRIPTION IN ("boot")', 'unknown field Items.DESCRIPTION at position 28; supported: ITEM_ID, TITLE, CATEGORY, CATEGORY_L1, CATEGORIES, GENRE, GENRES, PRICE, IN_STOCK');
  parseFails(t, 'EXCLUDE ItemID WHERE Items.CATEGORY_L2 NOT IN ("boot")', 'unknown field Items.CATEGORY_L2 at position 28; supported: ITEM_ID, TITLE, CATEGORY, CATEGORY_L1, CATEGORIES, GENRE, GENRES, PRICE, IN_STOCK');
  parseFails(t, 'EXCLUDE ItemID WHERE Interactions.EVENT_VALUE IN ("1")', 'unsupported field Interactions.EVENT_VALUE at position 35; Interactions conditions take EVENT_TYPE only');
  parseFails(t, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE = "click"', 'expected IN or NOT IN after Interactions.EVENT_TYPE at position 46, found "="');
  parseFails(t, 'EXCLUDE ItemID WHERE Items.CATEGORY LIKE "x"', 'expected IN, NOT IN or a comparison after Items.CATEGORY at position 37, found "LIKE"');
  parseFails(t, 'EXCLUDE ItemID WHERE Items.CATEGORY', 'expected IN, NOT IN or a comparison after Items.CATEGORY at position 36, found the end of the expression');
  parseFails(t, 'EXCLUDE ItemID WHERE Items.CATEGORY NOT ("x")', 'expected IN after NOT at position 41, found "("');
  parseFails(t, 'EXCLUDE ItemID WHERE Items.CATEGORY != "x"', 'unexpected character "!" at position 37');
  parseFails(t, 'INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE', 'expected ( after IN at position 37, found "CurrentItem"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.GENRE NOT IN "a"', 'expected ( after NOT IN at position 41, found "\\"a\\""');
  parseFails(t, 'INCLUDE ItemID WHERE Items.GENRE IN ()', 'expected a value ("string", number or $PARAMETER) in the list at position 38, found ")"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.GENRE IN ("a",)', 'expected a value ("string", number or $PARAMETER) in the list at position 42, found ")"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.GENRE IN ("a" "b")', 'expected , or ) at position 42, found "\\"b\\""');
  parseFails(t, 'INCLUDE ItemID WHERE Items.GENRE IN (comedy)', 'expected a value ("string", number or $PARAMETER) in the list at position 38, found "comedy"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.GENRE IN ("a"', 'expected , or ) at position 41, found the end of the expression');
  const many = Array.from({ length: 101 }, (_, i) => `"v${i}"`).join(',');
  parseFails(t, `INCLUDE ItemID WHERE Items.GENRE IN (${many})`, 'the list of Items.GENRE at position 37 has more than 100 values');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE <', 'expected a value ("string", number or $PARAMETER) after < at position 35, found the end of the expression');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < Items.PRICE', 'expected a value ("string", number or $PARAMETER) after < at position 36, found "Items"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.TITLE < 5', '< at position 34 compares numbers, but Items.TITLE is not numeric (only PRICE is)');
  parseFails(t, 'INCLUDE ItemID WHERE Items.IN_STOCK >= 1', '>= at position 37 compares numbers, but Items.IN_STOCK is not numeric (only PRICE is)');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < "ten"', 'Items.PRICE takes numbers, got "ten" at position 36');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE IN (1, "2")', 'Items.PRICE takes numbers, got "2" at position 41');
  parseFails(t, 'INCLUDE ItemID WHERE Items.CATEGORY = 5', 'Items.CATEGORY takes "strings", got 5 at position 39');
  parseFails(t, 'INCLUDE ItemID WHERE Items.ITEM_ID IN ("a", 7)', 'Items.ITEM_ID takes "strings", got 7 at position 45');
  parseFails(t, 'INCLUDE ItemID WHERE Items.IN_STOCK = "yes"', 'Items.IN_STOCK takes "true", "false", 1 or 0, got "yes" at position 39');
  parseFails(t, 'INCLUDE ItemID WHERE Items.IN_STOCK IN (2)', 'Items.IN_STOCK takes "true", "false", 1 or 0, got 2 at position 41');
  parseFails(t, 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", 3)', 'Interactions.EVENT_TYPE takes "strings", got 3 at position 59');
  parseFails(
    t,
    'INCLUDE ItemID WHERE Items.PRICE < 5 AND Interactions.EVENT_TYPE IN ("click")',
    'Interactions.EVENT_TYPE at position 42 is not on Items, the dataset of the expression\'s first condition; chain expressions with | to filter on both',
  );
  parseFails(
    t,
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") OR (Items.PRICE > 1)',
    'Items.PRICE at position 63 is not on Interactions, the dataset of the expression\'s first condition; chain expressions with | to filter on both',
  );
  parseFails(t, 'EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE', 'IF CurrentUser conditions are not supported at position 46');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < 5 Items.PRICE > 1', 'expected AND, OR, | or the end of the expression at position 38, found "Items"');
  parseFails(t, 'INCLUDE ItemID WHERE (Items.PRICE < 5) Items.PRICE > 1', 'expected AND, OR, | or the end of the expression at position 40, found "Items"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < 5)', 'expected AND, OR, | or the end of the expression at position 37, found ")"');
  parseFails(t, 'INCLUDE ItemID WHERE (Items.PRICE < 5 OR Items.PRICE > 10', 'expected AND, OR or ) at position 58, found the end of the expression');
  parseFails(t, 'INCLUDE ItemID WHERE (Items.PRICE < 5 | EXCLUDE ItemID WHERE Items.PRICE > 1)', 'expected AND, OR or ) at position 39, found "|"');
  parseFails(t, 'INCLUDE ItemID WHERE ()', 'expected a condition (Items.<FIELD> or Interactions.EVENT_TYPE) at position 23, found ")"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < 5 |', 'expected INCLUDE or EXCLUDE at position 39, found the end of the expression');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < 5 || EXCLUDE ItemID WHERE Items.PRICE > 9', 'expected INCLUDE or EXCLUDE at position 39, found "|"');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < 5 AND', 'expected a condition (Items.<FIELD> or Interactions.EVENT_TYPE) at position 41, found the end of the expression');
  parseFails(t, 'INCLUDE ItemID WHERE Items.TITLE IN ("open', 'unterminated string starting at position 38');
  parseFails(t, 'INCLUDE ItemID WHERE Items.TITLE IN ("bad \\q escape")', 'invalid string "bad \\q escape" at position 38: it must be a JSON-style string');
  parseFails(t, 'INCLUDE ItemID WHERE Items.TITLE IN ("line\nbreak")', 'invalid string "line\nbreak" at position 38: it must be a JSON-style string');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < $', 'expected a parameter name after $ at position 36');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < $-1', 'expected a parameter name after $ at position 36');
  parseFails(t, `INCLUDE ItemID WHERE Items.PRICE < $${'P'.repeat(51)}`, 'parameter name $PPPPPPPPPPPPPPPPPPPP... at position 36 is longer than 50 characters');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < 1e999', 'number 1e999 at position 36 is out of range');
  parseFails(t, 'INCLUDE ItemID WHERE Items.PRICE < - 1', 'unexpected character "-" at position 36');

  const err = t.throws(() => parseFilterExpression('nope'));
  t.ok(err instanceof FilterExpressionError && err instanceof Error);
  t.equal((err as Error).name, 'FilterExpressionError');
});

t.test('binding: list and scalar parameters take the field\'s type; = becomes IN; event types fold case', async (t) => {
  const parsed = parseFilterExpression(
    'INCLUDE ItemID WHERE Items.GENRES IN ($GENRES, "Drama") AND Items.PRICE <= $PRICE AND Items.IN_STOCK = $STOCK AND Items.PRICE = $PRICE' +
      ' | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE) OR Interactions.EVENT_TYPE NOT IN ("View")',
  );
  const bound = bindFilter(parsed, { GENRES: '"Comedy","Sci-Fi \\"classic\\""', PRICE: '12.5', STOCK: '"True"', EVENT_TYPE: ' "Click" , "*" ', UNUSED: 'not even valid' });
  t.strictSame(bound, {
    include: [
      {
        type: 'and',
        operands: [
          { type: 'item', field: 'category', operator: 'IN', values: ['Comedy', 'Sci-Fi "classic"', 'Drama'] },
          { type: 'item', field: 'price', operator: '<=', value: 12.5 },
          { type: 'item', field: 'inStock', operator: 'IN', values: [true] },
          { type: 'item', field: 'price', operator: 'IN', values: [12.5] },
        ],
      },
    ],
    exclude: [
      {
        type: 'or',
        operands: [
          { type: 'interaction', operator: 'IN', eventTypes: ['click', '*'] },
          { type: 'interaction', operator: 'NOT IN', eventTypes: ['view'] },
        ],
      },
    ],
  } satisfies BoundFilter);
  const stock = (value: string) => {
    const b = bindFilter(parseFilterExpression('INCLUDE ItemID WHERE Items.IN_STOCK IN ($S)'), { S: value }).include[0];
    return b.type === 'item' && 'values' in b ? b.values : null;
  };
  t.strictSame(stock('"true","FALSE",1,0'), [true, false, true, false]);
  t.strictSame(bindFilter(parseFilterExpression('EXCLUDE ItemID WHERE Items.PRICE > $P'), { P: '-3' }).exclude, [{ type: 'item', field: 'price', operator: '>', value: -3 }]);
  t.strictSame(bindFilter(parseFilterExpression('EXCLUDE ItemID WHERE Items.TITLE = $T'), { T: '"x"' }).exclude, [{ type: 'item', field: 'title', operator: 'IN', values: ['x'] }]);
  t.strictSame(bindFilter(parseFilterExpression('EXCLUDE ItemID WHERE Items.CATEGORY = "c"'), {}), { include: [], exclude: [{ type: 'item', field: 'category', operator: 'IN', values: ['c'] }] }, 'no parameters: no values needed');
});

t.test('binding: a missing value fails an INCLUDE expression and switches off an EXCLUDE one', async (t) => {
  bindFails(t, 'INCLUDE ItemID WHERE Items.GENRES IN ($GENRES)', {}, 'missing filter value for $GENRES: an INCLUDE expression needs every parameter');
  bindFails(t, 'INCLUDE ItemID WHERE Items.GENRES IN ($A, $B) OR Items.PRICE < $C', { B: '"x"' }, 'missing filter value for $A, $C: an INCLUDE expression needs every parameter');
  bindFails(t, 'INCLUDE ItemID WHERE Items.GENRES IN ($constructor)', {}, 'missing filter value for $constructor: an INCLUDE expression needs every parameter');
  bindFails(t, 'INCLUDE ItemID WHERE Items.GENRES IN ($genres)', { GENRES: '"a"' }, 'missing filter value for $genres: an INCLUDE expression needs every parameter');
  const parsed = parseFilterExpression('EXCLUDE ItemID WHERE Items.GENRES IN ($A) AND Items.PRICE > $P | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") | INCLUDE ItemID WHERE Items.PRICE < $P');
  t.strictSame(bindFilter(parsed, { P: '5' }), {
    include: [{ type: 'item', field: 'price', operator: '<', value: 5 }],
    exclude: [{ type: 'interaction', operator: 'IN', eventTypes: ['click'] }],
  });
  t.strictSame(bindFilter(parseFilterExpression('EXCLUDE ItemID WHERE Items.GENRES IN ($A)'), {}), { include: [], exclude: [] });
  bindFails(t, 'EXCLUDE ItemID WHERE Items.GENRES IN ($A)', { A: '' }, 'filter value for $A is empty');
});

t.test('binding: malformed and ill-typed values', async (t) => {
  const list = 'INCLUDE ItemID WHERE Items.GENRES IN ($G)';
  bindFails(t, list, { G: 'Comedy' }, 'filter value for $G is malformed at position 1: expected a "double-quoted string" or a number');
  bindFails(t, list, { G: '  ' }, 'filter value for $G is empty');
  bindFails(t, list, { G: '"a",' }, 'filter value for $G is malformed at position 5: expected a "double-quoted string" or a number');
  bindFails(t, list, { G: '"a" "b"' }, 'filter value for $G is malformed at position 5: expected , between values');
  bindFails(t, list, { G: '"a", "b' }, 'filter value for $G is malformed: unterminated string starting at position 6');
  bindFails(t, list, { G: '"\\x"' }, 'filter value for $G is malformed: invalid string "\\x" at position 1: it must be a JSON-style string');
  bindFails(t, list, { G: `"${'x'.repeat(999)}"` }, 'filter value for $G is 1001 characters long; the limit is 1000');
  bindFails(t, list, { G: Array.from({ length: 101 }, () => '1').join(',') }, 'filter value for $G has 101 values; at most 100');
  bindFails(t, list, { G: '5' }, 'filter value for $G: Items.GENRES takes "strings", got 5');
  bindFails(t, 'EXCLUDE ItemID WHERE Items.PRICE < $P', { P: '"ten"' }, 'filter value for $P: Items.PRICE takes numbers, got "ten"');
  bindFails(t, 'EXCLUDE ItemID WHERE Items.PRICE < $P', { P: '1, 2' }, 'filter value for $P must be one value for Items.PRICE <, got 2');
  bindFails(t, 'EXCLUDE ItemID WHERE Items.IN_STOCK = $S', { S: '"maybe"' }, 'filter value for $S: Items.IN_STOCK takes "true", "false", 1 or 0, got "maybe"');
  bindFails(t, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($E)', { E: '"click", 2' }, 'filter value for $E: Interactions.EVENT_TYPE takes "strings", got 2');
  const sixty = Array.from({ length: 60 }, (_, i) => `"l${i}"`).join(',');
  const fifty = Array.from({ length: 50 }, (_, i) => `"p${i}"`).join(',');
  bindFails(t, `INCLUDE ItemID WHERE Items.GENRES IN (${sixty}, $G)`, { G: fifty }, 'the list of Items.GENRES has 110 values once bound; at most 100');
  t.strictSame(parseFilterValue('X', '"a" ,1.5,"" , -2'), [str('a'), num(1.5), str(''), num(-2)]);
});

const comedy: CatalogItem = { itemId: 'a', title: 'Alpha', category: 'Comedy', price: 5, inStock: true };
const drama: CatalogItem = { itemId: 'b', title: 'Beta', category: 'Drama', price: 15, inStock: false };
const horror: CatalogItem = { itemId: 'c', title: 'Gamma', category: 'Horror', price: 10, inStock: true };
const subjects: FilterSubject[] = [
  { itemId: 'a', item: comedy, eventTypes: new Set() },
  { itemId: 'b', item: drama, eventTypes: new Set(['click']) },
  { itemId: 'c', item: horror, eventTypes: new Set(['Purchase', 'view']) },
  { itemId: 'x', item: undefined, eventTypes: new Set() },
  { itemId: 'y', item: undefined, eventTypes: new Set(['CLICK']) },
];
/** allowsItem over comedy (none), drama (click), horror (Purchase, view), unknown (none), unknown (CLICK). */
const verdicts = (text: string, values: Record<string, string> = {}): boolean[] => {
  const bound = bindFilter(parseFilterExpression(text), values);
  return subjects.map((subject) => allowsItem(bound, subject));
};

t.test('allowsItem: INCLUDE keeps matches, EXCLUDE drops them; unknown items fail every Items condition', async (t) => {
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.GENRES IN ("Comedy", "Drama")'), [true, true, false, false, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.GENRES IN ("Comedy", "Drama")'), [false, false, true, true, true]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.GENRES NOT IN ("Comedy")'), [false, true, true, false, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.GENRES NOT IN ("Comedy")'), [true, false, false, true, true]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.GENRES IN ("comedy")'), [false, false, false, false, false], 'item values match case-sensitively');
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.ITEM_ID IN ("a", "c")'), [true, false, true, false, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.TITLE = "Beta"'), [true, false, true, true, true]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.IN_STOCK = "true"'), [true, false, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.IN_STOCK IN (0)'), [false, true, false, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.GENRES IN ($G)', { G: '"Horror"' }), [false, false, true, false, false]);
});

t.test('allowsItem: numeric comparisons at the boundary (prices 5, 15, 10)', async (t) => {
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE < 10'), [true, false, false, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE <= 10'), [true, false, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE > 10'), [false, true, false, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE >= 10'), [false, true, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE = 10.0'), [false, false, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE IN (5, 15)'), [true, true, false, false, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.PRICE > $P', { P: '9.99' }), [true, false, false, true, true]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.PRICE NOT IN (10)'), [false, false, true, true, true]);
});

t.test('allowsItem: AND, OR and parentheses', async (t) => {
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE < 12 AND Items.IN_STOCK = "true"'), [true, false, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE < 12 AND Items.GENRES = "Horror" OR Items.GENRES = "Drama"'), [false, true, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE < 12 AND (Items.GENRES = "Horror" OR Items.GENRES = "Drama")'), [false, false, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.GENRES = "Drama" OR Items.PRICE < 12 AND Items.GENRES = "Horror"'), [false, true, true, false, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.GENRES = "Comedy" OR Items.IN_STOCK = "false"'), [false, false, true, true, true]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.GENRES NOT IN ("Comedy") AND Items.PRICE >= 10'), [true, false, false, true, true]);
});

t.test('allowsItem: Interactions.EVENT_TYPE, ignoring case, with * and NOT IN', async (t) => {
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Click", "purchase")'), [true, false, false, true, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'), [false, true, false, false, true]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'), [false, true, true, false, true]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'), [true, false, false, true, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($E)', { E: '"VIEW"' }), [true, true, false, true, true]);
  // NOT IN: an interaction of a type outside the list.
  t.strictSame(verdicts('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")'), [false, false, true, false, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("view")'), [true, false, false, true, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("*")'), [false, false, false, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") AND Interactions.EVENT_TYPE IN ("view")'), [false, false, false, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") OR Interactions.EVENT_TYPE IN ("view")'), [false, true, true, false, true]);
});

t.test('allowsItem: chains combine as Personalize documents, in any order', async (t) => {
  // Include A | Include B: the union.
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.GENRES IN ("Comedy") | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite", "click")'), [true, true, false, false, true]);
  // Include A | Exclude B: A minus B, whichever comes first.
  const minus = [true, false, false, false, false];
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE <= 15 | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "purchase")'), minus);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "purchase") | INCLUDE ItemID WHERE Items.PRICE <= 15'), minus);
  // Exclude A | Exclude B: drops the union.
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.GENRES IN ("Comedy") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'), [false, false, true, true, false]);
  // Include (A or B) - (C or D).
  t.strictSame(
    verdicts(
      'INCLUDE ItemID WHERE Items.GENRES IN ("Comedy") | INCLUDE ItemID WHERE Items.PRICE >= 10 | EXCLUDE ItemID WHERE Items.IN_STOCK = "false" | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("view")',
    ),
    [true, false, false, false, false],
  );
  // An EXCLUDE expression whose value is left out is not applied; the INCLUDE one still is.
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE < $P | EXCLUDE ItemID WHERE Items.GENRES IN ($G)', { P: '12' }), [true, false, true, false, false]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.PRICE < $P | EXCLUDE ItemID WHERE Items.GENRES IN ($G)', { P: '12', G: '"Horror"' }), [true, false, false, false, false]);
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.GENRES IN ($G)'), [true, true, true, true, true]);
});

t.test('ITEM_ID conditions hold for items the catalog does not know', async (t) => {
  t.strictSame(verdicts('EXCLUDE ItemID WHERE Items.ITEM_ID IN ($IDS)', { IDS: '"a","x"' }), [false, true, true, false, true]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.ITEM_ID IN ("y", "b")'), [false, true, false, false, true]);
  t.strictSame(verdicts('INCLUDE ItemID WHERE Items.ITEM_ID NOT IN ("y")'), [true, true, true, true, false]);
});
