import t, { type Test } from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTrain } from '../../src/cli/train.js';
import { runEvaluate } from '../../src/cli/evaluate.js';
import { readBundle } from '../../src/model/bundle.js';
import { Scorer } from '../../src/model/scorer.js';
import { seededRandom } from '../../src/lib/random.js';
import { capture } from '../helpers.js';

/** 60 users walking clustered paths over 60 items: 1,200 interactions in s3rec format. */
function s3recText(users = 60, length = 20): string {
  const random = seededRandom(4);
  const lines: string[] = [];
  for (let u = 1; u <= users; u++) {
    const cluster = u % 4;
    let item = cluster * 15 + Math.floor(random() * 15);
    const items: number[] = [];
    for (let s = 0; s < length; s++) {
      items.push(item + 1);
      item = cluster * 15 + ((item - cluster * 15 + 1 + Math.floor(random() * 2)) % 15);
    }
    lines.push(`${u} ${items.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes a file into the test's directory (created once per test: testdir() resets it). */
const dirs = new WeakMap<Test, string>();
function dirOf(t: Test): string {
  let dir = dirs.get(t);
  if (dir === undefined) {
    dir = t.testdir();
    dirs.set(t, dir);
  }
  return dir;
}

async function file(t: Test, name: string, content: string): Promise<string> {
  const path = join(dirOf(t), name);
  await writeFile(path, content);
  return path;
}

t.test('argument errors exit with 2 and say what is wrong', async (t) => {
  const data = await file(t, 'd.txt', s3recText());
  const cases: [string, () => Promise<number>, RegExp][] = [
    ['train without --format', () => runTrain(['--data', data, '--out', 'x']), /--format is required/],
    ['train with a bad format', () => runTrain(['--data', data, '--format', 'parquet', '--out', 'x']), /--format must be one of s3rec, rsc15, csv/],
    ['train without --out', () => runTrain(['--data', data, '--format', 's3rec']), /--out is required/],
    ['train with an unknown option', () => runTrain(['--data', data, '--format', 's3rec', '--out', 'x', '--epochs', '3']), /unknown option --epochs/],
    ['train with a missing file', () => runTrain(['--data', join(dirOf(t), 'nope.txt'), '--format', 's3rec', '--out', 'x']), /--data: cannot read/],
    ['train with a bad budget', () => runTrain(['--data', data, '--format', 's3rec', '--out', 'x', '--budget', '-1']), /--budget must be a positive number/],
    ['train with a value missing', () => runTrain(['--data', data, '--format']), /--format needs a value/],
    ['evaluate without --format', () => runEvaluate(['--data', data]), /--format is required/],
    ['evaluate s3rec without --data', () => runEvaluate(['--format', 's3rec']), /--data is required/],
    ['evaluate s3rec with --train', () => runEvaluate(['--format', 's3rec', '--data', data, '--train', data]), /--train is for --format rsc15/],
    ['evaluate rsc15 without --test', () => runEvaluate(['--format', 'rsc15', '--train', data]), /--test is required with --format rsc15/],
    ['evaluate rsc15 with --data', () => runEvaluate(['--format', 'rsc15', '--data', data]), /--format rsc15 takes --train and --test/],
    ['evaluate a bad format', () => runEvaluate(['--format', 'xml', '--data', data]), /--format must be s3rec, csv or rsc15/],
    ['evaluate a stray argument', () => runEvaluate(['Beauty.txt']), /unexpected argument "Beauty.txt"/],
  ];
  for (const [what, run, message] of cases) {
    const { code, stderr, stdout } = await capture(run);
    t.equal(code, 2, `${what}: exit code 2`);
    t.match(stderr, message, `${what}: message`);
    t.match(stderr, /usage: attune/, `${what}: usage`);
    t.equal(stdout, '', `${what}: nothing on stdout`);
  }
});

t.test('train refuses data below the minimum (exit 1) and names the condition', async (t) => {
  const small = await file(t, 'small.txt', s3recText(30, 20).split('\n').slice(0, 24).join('\n') + '\n');
  const { code, stderr } = await capture(() => runTrain(['--data', small, '--format', 's3rec', '--out', join(dirOf(t), 'b')]));
  t.equal(code, 1);
  t.match(stderr, /attune train: 480 interactions; training needs at least 1000/);
  const malformed = await file(t, 'bad.txt', '1 2 3\n2\n');
  const bad = await capture(() => runTrain(['--data', malformed, '--format', 's3rec', '--out', join(dirOf(t), 'c')]));
  t.equal(bad.code, 1);
  t.match(bad.stderr, /bad\.txt:2: user 2 has no items/);
});

t.test('train writes a servable bundle with its validation metrics and reducer settings', async (t) => {
  const data = await file(t, 'd.txt', s3recText());
  const items = await file(t, 'items.csv', 'ITEM_ID,CATEGORY\n1,shoes\n2,shoes\n999,hats\n');
  const out = join(dirOf(t), 'bundle');
  const { code, stdout, stderr } = await capture(() =>
    runTrain(['--data', data, '--format', 's3rec', '--items', items, '--out', out, '--budget', '20', '--no-embeddings', '--json']),
  );
  t.equal(code, 0, stderr);
  const manifest = JSON.parse(stdout);
  t.strictSame(manifest, (await readBundle(out)).manifest, 'stdout is the manifest');
  t.match(stderr, /tuning: start/, 'progress on stderr');
  t.equal(manifest.interactions, 1200);
  t.equal(manifest.users, 60);
  t.equal(manifest.itemCount, 61, '60 interacted items and the catalog-only item 999');
  t.match(manifest.version, /^item-item-[0-9a-f]{12}$/);
  t.match(manifest.trainingDataHash, /^[0-9a-f]{64}$/);
  t.ok(manifest.trainingSeconds > 0);
  for (const name of ['HR@5', 'HR@10', 'NDCG@10', 'MRR@25', 'Coverage@10']) t.type(manifest.metrics[`validation.${name}`], 'number', name);
  t.ok(manifest.metrics['validation.HR@10'] > 0.1, `the paths are partly learnable (${manifest.metrics['validation.HR@10']})`);
  t.match(manifest.parameters, { dataset: 'd.txt', format: 's3rec', protocol: 'leave-one-out', historyLength: manifest.historyLength });
  t.match(manifest.reducer, { halfLifeMs: 365 * 24 * 3600 * 1000, positionDecay: Number, itemWeightsMax: Number, eventWeights: Object });
  t.strictSame(JSON.parse(await readFile(join(out, 'categories.json'), 'utf8')), { '1': 'shoes', '2': 'shoes', '999': 'hats' });
  const scorer = await Scorer.load(out);
  t.teardown(() => scorer.close());
  t.ok(scorer.hasItem('999'));
  t.equal((await scorer.score({ itemIds: ['1', '2'], weights: [0.5, 1] }, 5)).length, 5);
});

t.test('evaluate --json: one object with the metrics and the popularity baseline', async (t) => {
  const data = await file(t, 'Paths.txt', s3recText());
  const { code, stdout, stderr } = await capture(() => runEvaluate(['--data', data, '--format', 's3rec', '--json', '--budget', '20', '--no-embeddings']));
  t.equal(code, 0, stderr);
  t.equal(stdout.trim().split('\n').length, 1, 'one line');
  const report = JSON.parse(stdout);
  const keys = ['HR@5', 'HR@10', 'HR@20', 'NDCG@5', 'NDCG@10', 'NDCG@20', 'MRR@25', 'Coverage@10'];
  t.match(report, { dataset: 'Paths', users: 60, items: 60, trainSeconds: Number });
  t.strictSame(Object.keys(report.metrics), keys);
  t.strictSame(Object.keys(report.baseline.popularity), keys);
  t.ok(report.metrics['HR@10'] > report.baseline.popularity['HR@10'], 'beats popularity');
  const table = await capture(() => runEvaluate(['--data', data, '--format', 's3rec', '--budget', '10', '--no-embeddings']));
  t.match(table.stdout, /Paths: 60 users, 60 items, 1200 interactions/);
  t.match(table.stdout, /HR@10\s+[0-9.]+\s+[0-9.]+/);
});

t.test('evaluate rsc15: ours beside the reference lists', async (t) => {
  const random = seededRandom(8);
  const train = ['SessionId\tItemId\tTime'];
  for (let s = 0; s < 200; s++) {
    const start = Math.floor(random() * 12);
    for (let p = 0; p < 4; p++) train.push(`${s}\t${100 + ((start + p) % 12)}\t${1_400_000_000 + s * 1000 + p * 20}`);
  }
  const test = ['SessionId\tItemId\tTime', 't1\t100\t1500000000', 't1\t101\t1500000010', 't1\t102\t1500000020', 't2\t105\t1500000000', 't2\t106\t1500000030'];
  const trainPath = await file(t, 'train.txt', train.join('\n') + '\n');
  const testPath = await file(t, 'test.txt', test.join('\n') + '\n');
  const refPath = await file(t, 'recoms_x_100k_oracle.csv', 'SessionId;Position;Recommendations;Scores\nt1;0;101,5;1,0\nt1;1;7,102;1,0.5\nt2;0;1,2;1,1\n');
  const { code, stdout, stderr } = await capture(() =>
    runEvaluate(['--format', 'rsc15', '--train', trainPath, '--test', testPath, '--reference', refPath, '--json', '--no-embeddings', '--budget', '20']),
  );
  t.equal(code, 0, stderr);
  const report = JSON.parse(stdout);
  t.equal(report.cases, 3);
  t.strictSame(report.references.oracle.metrics, { 'HR@20': 2 / 3, 'MRR@20': 0.5 });
  t.equal(report.references.oracle.cases, 3);
  t.equal(report.metrics['HR@20'], 1, 'every successor is within our top 20 of 12 items');
});
