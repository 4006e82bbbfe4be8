import t, { type Test } from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Interaction } from '../../src/model/types.js';
import {
  DatasetError,
  InsufficientDataError,
  S3REC_EPOCH_MS,
  checkMinimumData,
  readInteractions,
  readItemsCsv,
  readPersonalizeCsv,
  readRsc15,
  readS3Rec,
} from '../../src/training/datasets.js';

async function fixture(t: Test, name: string, content: string): Promise<string> {
  const path = join(t.testdir(), name);
  await writeFile(path, content);
  return path;
}

t.test('s3rec: users in order, timestamps one minute apart from the epoch', async (t) => {
  const path = await fixture(t, 's.txt', '1 10 11 12\n2 11\n\n3  12\t10 \n');
  const data = await readS3Rec(path);
  const at = (n: number) => S3REC_EPOCH_MS + n * 60_000;
  t.strictSame(data, [
    { userId: '1', itemId: '10', timestamp: at(0), eventType: 'view' },
    { userId: '1', itemId: '11', timestamp: at(1), eventType: 'view' },
    { userId: '1', itemId: '12', timestamp: at(2), eventType: 'view' },
    { userId: '2', itemId: '11', timestamp: at(0), eventType: 'view' },
    { userId: '3', itemId: '12', timestamp: at(0), eventType: 'view' },
    { userId: '3', itemId: '10', timestamp: at(1), eventType: 'view' },
  ]);
  t.strictSame(await readInteractions(path, 's3rec'), data);
});

t.test('s3rec: malformed lines name the line', async (t) => {
  await t.rejects(readS3Rec(await fixture(t, 'a.txt', '1 10 11\n2\n')), DatasetError);
  await t.rejects(readS3Rec(await fixture(t, 'b.txt', '1 10 11\n2\n')), { message: /b\.txt:2: user 2 has no items/, line: 2 });
  await t.rejects(readS3Rec(await fixture(t, 'c.txt', '1 10\n2 11\n1 12\n')), { message: /c\.txt:3: user 1 appears again \(first on line 1\)/ });
  await t.rejects(readS3Rec(await fixture(t, 'd.txt', '\n\n')), /no users/);
});

t.test('rsc15: header columns in any order, seconds to milliseconds', async (t) => {
  const path = await fixture(t, 'r.txt', 'SessionId\tItemId\tTime\n1\t214536502\t1396860669.277\n1\t214536506\t1396860886.998\r\n2\t7\t5\n');
  t.strictSame(await readRsc15(path), [
    { userId: '1', itemId: '214536502', timestamp: 1396860669277, eventType: 'click' },
    { userId: '1', itemId: '214536506', timestamp: 1396860886998, eventType: 'click' },
    { userId: '2', itemId: '7', timestamp: 5000, eventType: 'click' },
  ]);
  const swapped = await fixture(t, 'r2.txt', 'Time\tSessionId\tItemId\n10\ts\ti\n');
  t.strictSame(await readRsc15(swapped), [{ userId: 's', itemId: 'i', timestamp: 10_000, eventType: 'click' }]);
});

t.test('rsc15: errors name the line', async (t) => {
  await t.rejects(readRsc15(await fixture(t, 'a.txt', 'SessionId\tItemId\n1\t2\n')), { message: /a\.txt:1: header lacks column Time/ });
  await t.rejects(readRsc15(await fixture(t, 'b.txt', 'SessionId\tItemId\tTime\n1\t2\t3\n1\t2\n')), { message: /b\.txt:3: expected 3 tab-separated fields, found 2/ });
  await t.rejects(readRsc15(await fixture(t, 'c.txt', 'SessionId\tItemId\tTime\n1\t2\t3\n1\t2\tnoon\n')), { message: /c\.txt:3: Time "noon" is not a number of seconds/ });
  await t.rejects(readRsc15(await fixture(t, 'd.txt', 'SessionId\tItemId\tTime\n\t2\t3\n')), { message: /d\.txt:2: empty SessionId/ });
  await t.rejects(readRsc15(await fixture(t, 'e.txt', '')), /empty file/);
});

t.test('csv: Personalize columns in any order, extra columns, quotes', async (t) => {
  const path = await fixture(
    t,
    'i.csv',
    [
      'ITEM_ID,extra,TIMESTAMP,USER_ID,EVENT_VALUE,EVENT_TYPE',
      'i1,"a, b",100,u1,,purchase',
      '"i""2",x,101.5,u1,2.5,',
      '"multi',
      'line",y,102,"u,2",7,click',
      '',
    ].join('\n'),
  );
  const expected: Interaction[] = [
    { userId: 'u1', itemId: 'i1', timestamp: 100_000, eventType: 'purchase' },
    { userId: 'u1', itemId: 'i"2', timestamp: 101_500, eventType: 'interaction', eventValue: 2.5 },
    { userId: 'u,2', itemId: 'multi\nline', timestamp: 102_000, eventType: 'click', eventValue: 7 },
  ];
  t.strictSame(await readPersonalizeCsv(path), expected);
  const minimal = await fixture(t, 'm.csv', 'user_id,item_id,timestamp\r\nu,i,1\r\n');
  t.strictSame(await readInteractions(minimal, 'csv'), [{ userId: 'u', itemId: 'i', timestamp: 1000, eventType: 'interaction' }]);
});

t.test('csv: errors name the line', async (t) => {
  await t.rejects(readPersonalizeCsv(await fixture(t, 'a.csv', 'USER_ID,TIMESTAMP\nu,1\n')), { message: /a\.csv:1: header lacks column ITEM_ID/ });
  await t.rejects(readPersonalizeCsv(await fixture(t, 'b.csv', 'USER_ID,ITEM_ID,TIMESTAMP\nu,i,1\nu,i\n')), {
    message: /b\.csv:3: expected 3 fields like the header, found 2/,
  });
  await t.rejects(readPersonalizeCsv(await fixture(t, 'c.csv', 'USER_ID,ITEM_ID,TIMESTAMP\nu,i,1\nu,i,yesterday\n')), {
    message: /c\.csv:3: TIMESTAMP "yesterday" is not Unix seconds/,
  });
  await t.rejects(readPersonalizeCsv(await fixture(t, 'd.csv', 'USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\nu,i,1,much\n')), {
    message: /d\.csv:2: EVENT_VALUE "much" is not a number/,
  });
  await t.rejects(readPersonalizeCsv(await fixture(t, 'e.csv', 'USER_ID,ITEM_ID,TIMESTAMP\nu,i,1\n"u,i,2\n')), {
    message: /e\.csv:3: quoted field is not closed/,
  });
  await t.rejects(readPersonalizeCsv(await fixture(t, 'f.csv', 'USER_ID,ITEM_ID,TIMESTAMP\nu,,1\n')), { message: /f\.csv:2: empty ITEM_ID/ });
});

t.test('items csv: ids and the first category column present', async (t) => {
  const path = await fixture(t, 'items.csv', 'ITEM_ID,PRICE,GENRES,CATEGORY_L1\ni1,3.5,Rock|Pop,shoes\ni2,1,Jazz,\n');
  t.strictSame(await readItemsCsv(path), [{ itemId: 'i1', category: 'shoes' }, { itemId: 'i2' }]);
  const genres = await fixture(t, 'g.csv', 'GENRES,ITEM_ID\nRock|Pop,i1\n');
  t.strictSame(await readItemsCsv(genres), [{ itemId: 'i1', category: 'Rock' }]);
  await t.rejects(readItemsCsv(await fixture(t, 'd.csv', 'ITEM_ID\ni1\ni1\n')), { message: /d\.csv:3: item i1 appears again \(first on line 2\)/ });
  await t.rejects(readItemsCsv(await fixture(t, 'n.csv', 'NAME\nx\n')), /header lacks column ITEM_ID/);
});

t.test('minimum data: the failing condition is named', async (t) => {
  const make = (users: number, perUser: number): Interaction[] =>
    Array.from({ length: users * perUser }, (_, n) => ({
      userId: `u${Math.floor(n / perUser)}`,
      itemId: `i${n % 7}`,
      timestamp: n,
      eventType: 'view',
    }));
  t.doesNotThrow(() => checkMinimumData(make(25, 40)));
  t.throws(() => checkMinimumData(make(25, 39)), new InsufficientDataError('975 interactions; training needs at least 1000'));
  t.throws(() => checkMinimumData(make(24, 50)), { message: '24 users; training needs at least 25' });
  t.throws(() => checkMinimumData(make(20, 50), undefined, 'session'), { message: '20 sessions; training needs at least 25' });
  const short = [...make(30, 40), { userId: 'lonely', itemId: 'i1', timestamp: 0, eventType: 'view' }, { userId: 'solo', itemId: 'i2', timestamp: 0, eventType: 'view' }];
  t.throws(() => checkMinimumData(short), {
    name: 'InsufficientDataError',
    message: 'user lonely has 1 interaction; every user needs at least 2 (and 1 more users below the minimum)',
  });
  t.throws(() => checkMinimumData(short.slice(0, -1)), { message: 'user lonely has 1 interaction; every user needs at least 2' });
});
