import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { InteractionEntry, LogEntry } from '../../src/session/events.js';
import { runImport } from '../../src/cli/import.js';
import { ImportError, importData, type ImportKind, type ImportProgress, type RowError, type RowOutcome } from '../../src/ops/import.js';
import { Pseudonyms } from '../../src/privacy/pseudonyms.js';
import { createMemoryStores } from '../../src/store/memory.js';
import { createRedisStores } from '../../src/store/redis/index.js';
import { capture } from '../helpers.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

const dir = mkdtempSync(join(tmpdir(), 'attune-import-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The log entries of a user, as (item, type, sentAt) triples. */
async function history(stores: ReturnType<typeof createMemoryStores>, userId: string): Promise<Array<[string, string, number]>> {
  const entries: LogEntry[] = await stores.log.read(`u:${userId}`, null);
  return entries.map((e) => (e.kind === 'interaction' ? [e.itemId, e.eventType, e.sentAt] : ['merge', 'merge', e.receivedAt]));
}

t.test('a CSV with bad rows: exactly those rows are reported, the good ones imported in file order per user', async (t) => {
  const path = file('interactions.csv', [
    'timestamp,USER_ID,Item_Id,EVENT_TYPE,event_value,SESSION_ID,IGNORED',
    '1700000000,alice,shoes-001,view,,tab-1,x', // 2 good
    '1700000010,bob,bags-002,purchase,19.5,,x', // 3 good
    'abc,alice,shoes-002,view,,,x', // 4 bad timestamp
    '1700000020,,shoes-003,view,,,x', // 5 empty user
    '', // 6 blank: skipped, not a row
    '1700000030,alice,shoes-004,view,,,', // 7 good (empty trailing fields)
    '1700000040,alice,shoes-005,view', // 8 too few fields
    '1700000050,bob,bags-006,view,x,,x', // 9 bad event value
    `1700000060,${'u'.repeat(257)},bags-007,view,,,x`, // 10 id too long
    '1700000070,alice,"shoes,006",click,2,,"a ""quoted"" note"', // 11 good, quoted fields
    '1700000080,bob,bags-008,add to cart,,,x', // 12 bad event type
    '1700000000000,bob,bags-009,view,,,x', // 13 milliseconds
    '1700000090,bob,bags-010,,,,x', // 14 good, default event type
  ]);
  const stores = createMemoryStores();
  const counted: Array<[ImportKind, RowOutcome, number]> = [];
  const seen: InteractionEntry[] = [];
  const report = await importData({ stores, interactions: path, now: () => 42, onInteraction: (e) => seen.push(e), counters: { rows: (kind, outcome, n) => counted.push([kind, outcome, n]) } });
  const expected: RowError[] = [
    { file: path, row: 4, reason: 'TIMESTAMP is not Unix seconds' },
    { file: path, row: 5, reason: 'empty USER_ID' },
    { file: path, row: 8, reason: 'expected 7 fields like the header, found 4' },
    { file: path, row: 9, reason: 'EVENT_VALUE is not a number' },
    { file: path, row: 10, reason: 'USER_ID longer than 256 characters' },
    { file: path, row: 12, reason: 'EVENT_TYPE is not an event type (1 to 64 of A-Z a-z 0-9 _ . : -)' },
    { file: path, row: 13, reason: 'TIMESTAMP is not Unix seconds (milliseconds?)' },
  ];
  t.strictSame(report.errors, expected);
  t.equal(report.errorCount, 7);
  t.strictSame(report.interactions, { read: 12, imported: 5, rejected: 7 });
  t.equal(report.items, null);
  t.equal(report.users, null);
  t.strictSame(await history(stores, 'alice'), [
    ['shoes-001', 'view', 1700000000000],
    ['shoes-004', 'view', 1700000030000],
    ['shoes,006', 'click', 1700000070000],
  ]);
  t.strictSame(await history(stores, 'bob'), [
    ['bags-002', 'purchase', 1700000010000],
    ['bags-010', 'interaction', 1700000090000],
  ]);
  const [first] = await stores.log.read('u:alice', null);
  t.match(first, { kind: 'interaction', sessionId: 'tab-1', userId: 'alice', receivedAt: 42 });
  t.notOk('eventValue' in first, 'an empty EVENT_VALUE is absent');
  t.match((await stores.log.read('u:bob', null))[0], { sessionId: 'import', eventValue: 19.5 });
  t.equal(seen.length, 5, 'every imported interaction is handed to onInteraction');
  t.ok(seen.every((e) => typeof e.eventId === 'string'));
  t.strictSame(counted.filter(([, o]) => o === 'imported').reduce((n, [, , c]) => n + c, 0), 5);
  t.strictSame(counted.filter(([, o]) => o === 'rejected').reduce((n, [, , c]) => n + c, 0), 7);
  t.strictSame(await stores.log.keys('u:'), ['u:alice', 'u:bob'], 'nothing else was written');
});

t.test('a JSONL file with bad rows: the same, with JSON-specific reasons', async (t) => {
  const broken = '{"USER_ID": "carol", ';
  const path = file('interactions.jsonl', [
    '{"user_id": "carol", "item_id": "books-001", "timestamp": 1700000000, "event_type": "view"}', // 1 good
    broken, // 2 invalid JSON
    '["carol", "books-002"]', // 3 not an object
    '{"USER_ID": "carol", "ITEM_ID": "books-003"}', // 4 missing timestamp
    '', // 5 blank
    '{"USER_ID": 7, "ITEM_ID": 12, "TIMESTAMP": "1700000100", "EVENT_VALUE": 3}', // 6 good: numbers as ids
    '{"USER_ID": "carol", "ITEM_ID": "books-004", "TIMESTAMP": -1}', // 7 negative time
    '{"USER_ID": {"id": 1}, "ITEM_ID": "books-005", "TIMESTAMP": 1}', // 8 object id
    '{"USER_ID": "carol", "ITEM_ID": "books-006", "TIMESTAMP": 1700000200.5, "SESSION_ID": "s-9", "extra": [1]}', // 9 good
    '{"USER_ID": "carol", "ITEM_ID": "", "TIMESTAMP": 1700000300}', // 10 empty item
  ]);
  const stores = createMemoryStores();
  const report = await importData({ stores, interactions: path });
  t.strictSame(report.errors, [
    { file: path, row: 2, reason: 'invalid JSON at byte 21 of the line' },
    { file: path, row: 3, reason: 'not a JSON object' },
    { file: path, row: 4, reason: 'missing TIMESTAMP' },
    { file: path, row: 7, reason: 'TIMESTAMP is not Unix seconds' },
    { file: path, row: 8, reason: 'USER_ID is not a string' },
    { file: path, row: 10, reason: 'empty ITEM_ID' },
  ]);
  t.strictSame(report.interactions, { read: 9, imported: 3, rejected: 6 });
  t.strictSame(await history(stores, 'carol'), [
    ['books-001', 'view', 1700000000000],
    ['books-006', 'interaction', 1700000200500],
  ]);
  t.match((await stores.log.read('u:7', null))[0], { itemId: '12', eventValue: 3, sentAt: 1700000100000 });
  t.match((await stores.log.read('u:carol', null))[1], { sessionId: 's-9' });
});

t.test('items set categories and stock and are imported before the interactions they enrich; users go to their profiles', async (t) => {
  const items = file('items.csv', [
    'ITEM_ID,TITLE,PRICE,IN_STOCK,GENRES,CATEGORY_L1',
    'b-1,Dune,9.99,true,scifi|classic,books',
    'b-2,"Emma, a novel",5,0,romance,',
    'b-3,Bad,-2,1,x,books', // 4 negative price
    'b-4,Maybe,1,maybe,x,books', // 5 bad stock flag
    ',No id,1,1,x,books', // 6 empty id
  ]);
  const users = file('users.jsonl', ['{"USER_ID": "dave", "AGE": 41}', '{"USER_ID": ""}', '{"user_id": "erin", "MEMBERSHIP": "gold", "NOTE": ""}', '{"USER_ID": "finn", "TAGS": ["a"]}']);
  const interactions = file('enriched.csv', ['USER_ID,ITEM_ID,TIMESTAMP', 'dave,b-1,1700000000', 'dave,b-2,1700000001', 'dave,b-9,1700000002']);
  const stores = createMemoryStores();
  const order: string[] = [];
  const progress: ImportProgress[] = [];
  const report = await importData({ stores, items, users, interactions, onItems: (stored) => order.push(`items:${stored.length}`), onInteraction: () => order.push('interaction'), onProgress: (p) => progress.push(p) });
  t.strictSame(report.items, { read: 5, imported: 2, rejected: 3 });
  t.strictSame(report.users, { read: 4, imported: 2, rejected: 2 });
  t.strictSame(report.interactions, { read: 3, imported: 3, rejected: 0 });
  t.strictSame(report.errors, [
    { file: items, row: 4, reason: 'PRICE is not a non-negative number' },
    { file: items, row: 5, reason: 'IN_STOCK is not true, false, 1 or 0' },
    { file: items, row: 6, reason: 'empty ITEM_ID' },
    { file: users, row: 2, reason: 'empty USER_ID' },
    { file: users, row: 4, reason: 'TAGS is not a string, number or boolean' },
  ]);
  t.strictSame(await stores.users.get('dave'), { AGE: '41', USER_ID: 'dave' }, 'attributes as strings, named in upper case');
  t.strictSame(await stores.users.get('erin'), { MEMBERSHIP: 'gold', USER_ID: 'erin' }, 'empty fields left out');
  t.equal(await stores.users.get('finn'), null, 'a rejected row stores nothing');
  t.strictSame(await stores.catalog.get(['b-1', 'b-2', 'b-3']), [
    { itemId: 'b-1', title: 'Dune', category: 'books', price: 9.99, inStock: true },
    { itemId: 'b-2', title: 'Emma, a novel', category: 'uncategorized', price: 5, inStock: false },
  ]);
  t.strictSame(order, ['items:2', 'interaction', 'interaction', 'interaction']);
  const entries = (await stores.log.read('u:dave', null)) as InteractionEntry[];
  t.strictSame(entries.map((e) => e.itemCategory), ['books', 'uncategorized', undefined], 'categories come from the catalog, unknown items have none');
  t.strictSame(await stores.log.keys(''), ['u:dave'], 'profiles are not history: no log for erin');
  t.strictSame(progress.map((p) => [p.kind, p.rows, p.done]), [['items', 5, true], ['users', 4, true], ['interactions', 3, true]]);

  // GENRES first when CATEGORY_L1 is absent; a categoryOf function replaces the catalog lookup.
  const genres = file('genres.jsonl', ['{"ITEM_ID": "m-1", "GENRES": "drama|crime"}', '{"ITEM_ID": "m-2", "genres": ["comedy", "drama"], "in_stock": false}']);
  const more = createMemoryStores();
  await importData({ stores: more, items: genres });
  t.strictSame((await more.catalog.get(['m-1', 'm-2'])).map((i) => [i.category, i.inStock]), [['drama', true], ['comedy', false]]);
  const own = file('own.csv', ['USER_ID,ITEM_ID,TIMESTAMP', 'fay,m-1,1']);
  await importData({ stores: more, interactions: own, categoryOf: (id) => (id === 'm-1' ? 'given' : undefined) });
  t.match((await more.log.read('u:fay', null))[0], { itemCategory: 'given' });
});

t.test('a header without a required column, an empty file or a missing file fails the job with a clear error', async (t) => {
  const stores = createMemoryStores();
  const noTime = file('no-time.csv', ['USER_ID,ITEM_ID,WHEN', 'a,b,1']);
  const failure = await importData({ stores, interactions: noTime }).catch((err: unknown) => err);
  t.ok(failure instanceof ImportError);
  t.equal((failure as ImportError).message, `${noTime}:1: header lacks column TIMESTAMP (expected USER_ID, ITEM_ID, TIMESTAMP)`);
  t.strictSame((failure as ImportError).report.interactions, { read: 0, imported: 0, rejected: 0 });
  t.strictSame(await stores.log.keys(''), []);

  const empty = file('empty.csv', ['']);
  await t.rejects(importData({ stores, interactions: empty }), { message: `${empty}:1: empty file (expected a header with USER_ID, ITEM_ID, TIMESTAMP)` });
  const missing = join(dir, 'nope.csv');
  await t.rejects(importData({ stores, interactions: missing }), { name: 'ImportError', message: new RegExp(`^cannot read ${missing}: ENOENT`) });
  await t.rejects(importData({ stores, interactions: dir, format: 'csv' }), { message: /^cannot read .*: EISDIR/ });
  const unknown = file('data.txt', ['x']);
  await t.rejects(importData({ stores, interactions: unknown }), { message: /cannot tell the format from the extension/ });
  // Items are imported first: their failure stops the job before any interaction is written.
  const badItems = file('bad-items.csv', ['TITLE', 'x']);
  const good = file('good.csv', ['USER_ID,ITEM_ID,TIMESTAMP', 'a,b,1']);
  await t.rejects(importData({ stores, items: badItems, interactions: good }), { message: /header lacks column ITEM_ID/ });
  t.strictSame(await stores.log.keys(''), []);
  // A store failure fails the job and names the file.
  const failing = createMemoryStores();
  failing.log.append = async () => {
    throw new Error('disk on fire');
  };
  await t.rejects(importData({ stores: failing, interactions: good }), { message: `interactions ${good}: disk on fire` });
});

t.test('broken CSV quoting and overlong lines are rejected rows, and reading goes on after them', async (t) => {
  const path = file('quotes.csv', [
    'USER_ID,ITEM_ID,TIMESTAMP',
    'gus,"multi', // 2 good: a quoted field over two lines
    'line",1',
    'gus,i-2,2', // 4 good
    'gus,"never closed,3', // 5 broken: the rest of the file is read again
    'gus,i-4,4', // 6 good
  ]);
  const stores = createMemoryStores();
  const report = await importData({ stores, interactions: path });
  t.strictSame(report.errors, [{ file: path, row: 5, reason: 'quoted field is not closed before the end of the file' }]);
  t.strictSame(await history(stores, 'gus'), [
    ['multi\nline', 'interaction', 1000],
    ['i-2', 'interaction', 2000],
    ['i-4', 'interaction', 4000],
  ]);
  // A quote left open for over 1 MiB: only its first line is rejected, the lines after it are read again.
  const rows = Array.from({ length: 70_000 }, (_, i) => `ola,item-${i},${i}`);
  const unclosed = file('unclosed.csv', ['USER_ID,ITEM_ID,TIMESTAMP', 'ola,"open,1', ...rows]);
  const unclosedReport = await importData({ stores, interactions: unclosed });
  t.strictSame(unclosedReport.errors, [{ file: unclosed, row: 2, reason: 'quoted field is not closed within 1048576 characters' }]);
  t.strictSame(unclosedReport.interactions, { read: 70_001, imported: 70_000, rejected: 1 });
  const ola = (await stores.log.read('u:ola', null)) as InteractionEntry[];
  t.strictSame([ola.length, ola[0].itemId, ola.at(-1)?.itemId], [70_000, 'item-0', 'item-69999']);
  t.ok(ola.every((e, i) => e.sentAt === i * 1000), 'in file order');

  const long = file('long.jsonl', [`{"USER_ID": "h", "ITEM_ID": "${'x'.repeat(1_100_000)}", "TIMESTAMP": 1}`, '{"USER_ID": "h", "ITEM_ID": "short", "TIMESTAMP": 2}']);
  const longReport = await importData({ stores, interactions: long });
  t.strictSame(longReport.errors, [{ file: long, row: 1, reason: 'line longer than 1048576 characters' }]);
  t.strictSame(await history(stores, 'h'), [['short', 'interaction', 2000]]);
});

t.test('rejections and failures name the line, the column and the byte offset, never what the file holds', async (t) => {
  const secret = 'hunter2-s3cret';
  const stores = createMemoryStores();
  const csv = file('secret.csv', [
    'USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE',
    `a,b,${secret},view,1`,
    `a,b,1,${secret} x,1`,
    `a,b,1,view,${secret}`,
    `a,b,9${secret}`,
  ]);
  const jsonl = file('secret.jsonl', [`${secret}`, `{"USER_ID": "${secret}", "ITEM_ID": x}`, `{"USER_ID": "üü", ${secret}}`, `{"USER_ID": "a", "ITEM_ID": "b", "TIMESTAMP": 1} ${secret}`]);
  const items = file('secret-items.csv', ['ITEM_ID,PRICE,IN_STOCK', `i,-${secret},1`, `i,1,${secret}`, `i,-7,1`]);
  const report = await importData({ stores, interactions: csv, items });
  const users = await importData({ stores, users: jsonl });
  t.strictSame(report.errors, [
    { file: items, row: 2, reason: 'PRICE is not a number' },
    { file: items, row: 3, reason: 'IN_STOCK is not true, false, 1 or 0' },
    { file: items, row: 4, reason: 'PRICE is not a non-negative number' },
    { file: csv, row: 2, reason: 'TIMESTAMP is not Unix seconds' },
    { file: csv, row: 3, reason: 'EVENT_TYPE is not an event type (1 to 64 of A-Z a-z 0-9 _ . : -)' },
    { file: csv, row: 4, reason: 'EVENT_VALUE is not a number' },
    { file: csv, row: 5, reason: 'expected 5 fields like the header, found 3' },
  ]);
  t.strictSame(users.errors, [
    { file: jsonl, row: 1, reason: 'invalid JSON at byte 0 of the line' },
    { file: jsonl, row: 2, reason: 'invalid JSON at byte 41 of the line' },
    { file: jsonl, row: 3, reason: 'invalid JSON at byte 20 of the line' },
    { file: jsonl, row: 4, reason: 'invalid JSON at byte 49 of the line' },
  ], 'offsets count bytes: each ü is two');
  const header = file('secret-header.csv', [`${secret},ITEM_ID,TIMESTAMP`, 'a,b,1']);
  const failure = await importData({ stores, interactions: header }).catch((err: unknown) => err);
  t.equal((failure as Error).message, `${header}:1: header lacks column USER_ID (expected USER_ID, ITEM_ID, TIMESTAMP)`);
  for (const said of [JSON.stringify(report), JSON.stringify(users), (failure as Error).message]) t.notOk(said.includes(secret), said);
});

t.test('a file larger than a chunk imports completely, in file order per user, with progress and capped errors', async (t) => {
  const lines = ['USER_ID,ITEM_ID,TIMESTAMP'];
  for (let i = 0; i < 5000; i++) lines.push(i % 1000 === 999 ? `u${i % 7},,${i}` : `u${i % 7},item-${i},${1_700_000_000 + i}`);
  const path = file('big.csv', lines);
  const stores = createMemoryStores();
  const progress: ImportProgress[] = [];
  const written: RowError[] = [];
  const report = await importData({ stores, interactions: path, progressEvery: 1000, maxErrors: 3, onProgress: (p) => progress.push(p), onRowError: (e) => void written.push(e) });
  t.strictSame(report.interactions, { read: 5000, imported: 4995, rejected: 5 });
  t.equal(report.errorCount, 5);
  t.strictSame(report.errors.map((e) => e.row), [1001, 2001, 3001], 'the report keeps maxErrors rows');
  t.strictSame(written.map((e) => e.row), [1001, 2001, 3001, 4001, 5001], 'onRowError sees every one');
  t.strictSame(progress.map((p) => [p.rows, p.rejected, p.done]), [[1000, 1, false], [2000, 2, false], [3000, 3, false], [4000, 4, false], [5000, 5, false], [5000, 5, true]]);
  let total = 0;
  for (let u = 0; u < 7; u++) {
    const entries = (await stores.log.read(`u:u${u}`, null)) as InteractionEntry[];
    total += entries.length;
    const times = entries.map((e) => e.sentAt);
    t.strictSame(times, [...times].sort((a, b) => a - b), `u${u}'s entries are in file order`);
  }
  t.equal(total, 4995);
});

t.test('attune import writes to the cluster\'s Redis and reports rejected rows', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const interactions = file('cli.csv', ['USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE', 'ivy,c-1,1700000000,view', 'ivy,,1700000001,view', 'ivy,c-2,1700000002,purchase', 'jo,c-1,nope,view']);
  const items = file('cli-items.jsonl', ['{"ITEM_ID": "c-1", "CATEGORY": "coffee"}', '{"ITEM_ID": "c-2", "CATEGORY": "tea", "IN_STOCK": "false"}']);
  const errors = join(dir, 'errors.jsonl');
  // The nodes' pseudonym key: USER_IDs are stored as the nodes would store them.
  const pseudonymKey = 'import-test-pseudonym-key-0123456789abcdef';
  const base = ['--redis', redis.url, '--shards', '8', '--pseudonym-key', pseudonymKey];

  const text = await capture(() => runImport(['--interactions', interactions, '--items', items, ...base, '--errors', errors]));
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /^items: 2 of 2 imported, 0 rejected\ninteractions: 2 of 4 imported, 2 rejected\n2 rejected rows:\n/);
  t.match(text.stdout, `${interactions}:3: empty ITEM_ID`);
  t.match(text.stdout, `${interactions}:5: TIMESTAMP is not Unix seconds`);
  t.notMatch(text.stdout, 'nope', 'the rejected value is not echoed');
  t.match(text.stderr, /attune import \[[\d.]+ s\] interactions .*cli\.csv: 4 rows \(2 rejected\), done/);
  t.strictSame((await readFile(errors, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RowError), [
    { file: interactions, row: 3, reason: 'empty ITEM_ID' },
    { file: interactions, row: 5, reason: 'TIMESTAMP is not Unix seconds' },
  ]);

  const stores = await createRedisStores({ url: redis.url, shardCount: 8 });
  t.teardown(() => stores.close());
  const entries = (await stores.log.read(`u:${new Pseudonyms(pseudonymKey).user('ivy')}`, null)) as InteractionEntry[];
  t.strictSame(entries.map((e) => [e.itemId, e.eventType, e.sentAt, e.itemCategory]), [
    ['c-1', 'view', 1700000000000, 'coffee'],
    ['c-2', 'purchase', 1700000002000, 'tea'],
  ]);
  t.strictSame((await stores.catalog.get(['c-2']))[0], { itemId: 'c-2', title: 'c-2', category: 'tea', price: 0, inStock: false });

  const json = await capture(() => runImport(['--users', items, '--format', 'jsonl', ...base, '--json']));
  t.equal(json.code, 0, json.stderr);
  t.match(JSON.parse(json.stdout), { users: { read: 2, imported: 0, rejected: 2 }, errorCount: 2, errors: [{ row: 1, reason: 'missing USER_ID' }, { row: 2 }] });

  const badHeader = file('cli-bad.csv', ['root:x:0:0:root:/root:/bin/bash,ITEM_ID,TIMESTAMP', 'a,b,1']);
  const failed = await capture(() => runImport(['--interactions', badHeader, ...base]));
  t.equal(failed.code, 1);
  t.match(failed.stderr, `attune import: failed: ${badHeader}:1: header lacks column USER_ID (expected USER_ID, ITEM_ID, TIMESTAMP)`);
  t.notMatch(failed.stderr, 'root:x', 'the header is not echoed');

  t.match(await capture(() => runImport(['--interactions', interactions])), { code: 2, stderr: /use POST \/v1\/import-jobs on the running server/ });
  t.match(await capture(() => runImport(['--interactions', interactions, '--redis', redis.url])), { code: 2, stderr: /user ids are stored as pseudonyms: give the nodes' --pseudonym-key/ });
  t.match(await capture(() => runImport(base)), { code: 2, stderr: /give at least one of --interactions, --items, --users/ });
  t.match(await capture(() => runImport(['--interactions', join(dir, 'absent.csv'), ...base])), { code: 2, stderr: /--interactions: cannot read .*absent\.csv/ });
  t.match(await capture(() => runImport(['--interactions', interactions, '--format', 'xml', ...base])), { code: 2, stderr: /--format must be csv or jsonl/ });
  t.match(await capture(() => runImport(['--help'])), { code: 0, stdout: /usage: attune import/ });
});
