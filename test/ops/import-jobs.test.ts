import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyError } from 'fastify';
import t from 'tap';
import type { InteractionEntry } from '../../src/session/events.js';
import { AttuneError, errorBody } from '../../src/errors.js';
import { ImportJobs, ImportRequestError, type ImportJobView } from '../../src/ops/import-jobs.js';
import type { ImportCounters, ImportKind, RowOutcome } from '../../src/ops/import.js';
import { createMemoryStores } from '../../src/store/memory.js';
import { importJobRoutes } from '../../src/transport/routes/import-jobs.js';
import { bodyAjv, describeErrors, queryAjv } from '../../src/transport/schemas.js';
import { waitFor } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'attune-import-jobs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** Counters recording what a node's prom-client counters would get. */
class RecordingCounters implements ImportCounters {
  readonly jobs: string[] = [];
  readonly counted = new Map<string, number>();

  rows(kind: ImportKind, outcome: RowOutcome, count: number): void {
    this.counted.set(`${kind}/${outcome}`, (this.counted.get(`${kind}/${outcome}`) ?? 0) + count);
  }

  job(outcome: 'succeeded' | 'failed'): void {
    this.jobs.push(outcome);
  }
}

const interactions = file('events.csv', ['USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE', 'kim,shoes-1,1700000000,view', 'kim,,1700000001,view', 'lee,bags-1,1700000002,purchase']);
const items = file('items.csv', ['ITEM_ID,CATEGORY,IN_STOCK', 'shoes-1,shoes,1', 'bags-1,bags,0']);

t.test('a job runs in the background to succeeded with its report, feeding onInteraction', async (t) => {
  const stores = createMemoryStores();
  const metrics = new RecordingCounters();
  const recorded: InteractionEntry[] = [];
  const jobs = new ImportJobs({ stores, root: dir, counters: metrics, onInteraction: (e) => recorded.push(e), now: () => 1000 });
  t.teardown(() => jobs.close());
  const started = await jobs.start({ interactions, items });
  t.match(started, { status: 'running', request: { interactions, items }, startedAt: 1000, progress: [] });
  const done = await jobs.finished(started.jobId);
  t.match(done, {
    jobId: started.jobId,
    status: 'succeeded',
    finishedAt: 1000,
    report: { items: { read: 2, imported: 2, rejected: 0 }, interactions: { read: 3, imported: 2, rejected: 1 }, users: null, errorCount: 1, errors: [{ file: interactions, row: 3, reason: 'empty ITEM_ID' }] },
  });
  t.notOk(done !== null && 'error' in done);
  t.strictSame(done?.progress.map((p) => [p.kind, p.rows, p.done]), [['items', 2, true], ['interactions', 3, true]]);
  t.strictSame(recorded.map((e) => [e.userId, e.itemId, e.itemCategory]), [['kim', 'shoes-1', 'shoes'], ['lee', 'bags-1', 'bags']]);
  t.strictSame(metrics.jobs, ['succeeded']);
  t.strictSame(Object.fromEntries(metrics.counted), { 'items/imported': 2, 'interactions/imported': 2, 'interactions/rejected': 1 });
  t.strictSame(jobs.get(started.jobId), done, 'get answers the same as finished');
  t.equal(jobs.get('unknown'), null);
  const copy = jobs.get(started.jobId);
  if (copy?.report) copy.report.errors.length = 0;
  t.equal(jobs.get(started.jobId)?.report?.errors.length, 1, 'views are copies');
});

t.test('a failing job ends failed with the reason, counted as a failed job', async (t) => {
  const stores = createMemoryStores();
  const metrics = new RecordingCounters();
  const logged: string[] = [];
  const jobs = new ImportJobs({ stores, root: dir, counters: metrics, onError: (err, context) => logged.push(`${context}: ${(err as Error).message}`) });
  const bad = file('bad-header.csv', ['USER_ID,ITEM,TIMESTAMP', 'a,b,1']);
  const { jobId } = await jobs.start({ interactions: bad });
  const done = await jobs.finished(jobId);
  const reason = `${bad}:1: header lacks column ITEM_ID (expected USER_ID, ITEM_ID, TIMESTAMP)`;
  t.match(done, { status: 'failed', error: reason, report: { interactions: { read: 0, imported: 0, rejected: 0 } } });
  t.strictSame(metrics.jobs, ['failed']);
  t.strictSame(logged, [`import job ${jobId}: ${reason}`]);

  // A store that fails mid-way: failed, with what was done before.
  const failing = createMemoryStores();
  let appends = 0;
  const append = failing.log.append.bind(failing.log);
  failing.log.append = async (key, entry) => {
    if (++appends > 1) throw new Error('store unavailable');
    return append(key, entry);
  };
  const flaky = new ImportJobs({ stores: failing, root: dir, counters: metrics, chunkRows: 1 });
  const second = await flaky.start({ interactions });
  t.match(await flaky.finished(second.jobId), { status: 'failed', error: `interactions ${interactions}: store unavailable`, report: { interactions: { imported: 1 } } });
  t.strictSame(metrics.jobs, ['failed', 'failed']);
});

t.test('requests that cannot start a job are refused with the reason', async (t) => {
  const jobs = new ImportJobs({ stores: createMemoryStores(), root: dir });
  await t.rejects(jobs.start({}), new ImportRequestError('give at least one of interactions, items, users (paths on the server)'));
  await t.rejects(jobs.start({ format: 'csv' }), { message: /give at least one/ });
  const missing = join(dir, 'missing.csv');
  await t.rejects(jobs.start({ interactions: missing }), { name: 'ImportRequestError', message: `interactions: ${missing} does not exist` });
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  await t.rejects(jobs.start({ items: folder }), { message: `items: ${folder} is not a file` });
  await t.rejects(jobs.start({ items: dir }), { message: `items: ${dir} is not under the import directory` }, 'the root itself is no file in it');
  const txt = file('data.txt', ['x']);
  await t.rejects(jobs.start({ users: txt }), { message: `users: cannot tell the format of ${txt} from its extension (.csv, .jsonl or .ndjson): give "format"` });
  const ok = await jobs.start({ users: txt, format: 'jsonl' });
  t.match(await jobs.finished(ok.jobId), { status: 'succeeded', report: { users: { read: 1, imported: 0, rejected: 1 } } });

  // With a root, paths resolve inside it and may not leave it.
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'inside.csv'), 'USER_ID,ITEM_ID,TIMESTAMP\na,b,1\n');
  const rooted = new ImportJobs({ stores: createMemoryStores(), root });
  const inside = await rooted.start({ interactions: 'inside.csv' });
  t.equal(inside.request.interactions, join(root, 'inside.csv'));
  await t.rejects(rooted.start({ interactions: interactions }), { message: `interactions: ${interactions} is not under the import directory` });
  await t.rejects(rooted.start({ interactions: '../events.csv' }), { message: /is not under the import directory/ });
  // A symlink inside the root that leads out is refused once resolved; one that stays inside is read.
  symlinkSync(interactions, join(root, 'out.csv'));
  symlinkSync(join(root, 'inside.csv'), join(root, 'alias.csv'));
  await t.rejects(rooted.start({ interactions: 'out.csv' }), { name: 'ImportRequestError', message: 'interactions: out.csv is not under the import directory' });
  t.equal((await rooted.start({ interactions: 'alias.csv' })).request.interactions, join(root, 'inside.csv'));
  await t.rejects(rooted.start({ interactions: 'missing.csv' }), { message: 'interactions: missing.csv does not exist' });
  await rooted.close();
});

t.test('the registry keeps the latest jobs, and close() aborts running ones', async (t) => {
  const jobs = new ImportJobs({ stores: createMemoryStores(), root: dir, keep: 3 });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { jobId } = await jobs.start({ items });
    await jobs.finished(jobId);
    ids.push(jobId);
  }
  t.strictSame(jobs.list().map((j) => j.jobId), ids.slice(2).reverse(), 'newest first, the oldest dropped');
  t.equal(jobs.get(ids[0]), null);

  const lines = ['USER_ID,ITEM_ID,TIMESTAMP'];
  for (let i = 0; i < 20_000; i++) lines.push(`u${i % 10},i${i},${i}`);
  const big = file('slow.csv', lines);
  const stores = createMemoryStores();
  const append = stores.log.append.bind(stores.log);
  stores.log.append = async (key, entry) => {
    await new Promise((r) => setImmediate(r));
    return append(key, entry);
  };
  const metrics = new RecordingCounters();
  const slow = new ImportJobs({ stores, root: dir, counters: metrics });
  const { jobId } = await slow.start({ interactions: big });
  await waitFor('some rows imported', async () => (await stores.log.keys('u:')).length > 0);
  await slow.close();
  t.match(slow.get(jobId), { status: 'failed', error: `interactions ${big}: import aborted` });
  t.strictSame(metrics.jobs, ['failed']);
  await t.rejects(slow.start({ items }), { message: 'the node is stopping' });
});

t.test('POST /v1/import-jobs and GET /v1/import-jobs/:jobId', async (t) => {
  const stores = createMemoryStores();
  const jobs = new ImportJobs({ stores, root: dir });
  // The same validation and error mapping as src/transport/http.ts, with only the import routes.
  const app = Fastify();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));
  app.setSchemaErrorFormatter((errors, dataVar) => new AttuneError('VALIDATION', describeErrors(errors, dataVar)));
  app.setErrorHandler((error: FastifyError | AttuneError, _request, reply) => {
    const known = error instanceof AttuneError ? error : new AttuneError('INTERNAL', error.message);
    return reply.status(known.statusCode).send({ error: errorBody(known) });
  });
  const audited: string[] = [];
  importJobRoutes(app, { importJobs: jobs, audit: async (_request, entry) => void audited.push(`${entry.action} ${entry.outcome}`) });
  t.teardown(async () => {
    await jobs.close();
    await app.close();
  });

  const post = (body: unknown) => app.inject({ method: 'POST', url: '/v1/import-jobs', payload: body as Record<string, unknown> });
  const accepted = await post({ interactions, items });
  t.equal(accepted.statusCode, 202, accepted.body);
  const { jobId, status } = accepted.json<{ jobId: string; status: string }>();
  t.equal(status, 'running');
  t.equal(accepted.headers.location, `/v1/import-jobs/${jobId}`);
  let view: ImportJobView | null = null;
  const codes = new Set<number>();
  await waitFor('the job to finish', async () => {
    const response = await app.inject({ method: 'GET', url: `/v1/import-jobs/${jobId}` });
    codes.add(response.statusCode);
    view = response.json<ImportJobView>();
    return view.status !== 'running';
  });
  t.strictSame([...codes], [200]);
  t.match(view, { jobId, status: 'succeeded', report: { interactions: { imported: 2, rejected: 1 }, items: { imported: 2 }, errors: [{ row: 3, reason: 'empty ITEM_ID' }] } });
  t.strictSame((await stores.log.read('u:lee', null)).map((e) => (e.kind === 'interaction' ? e.itemId : '')), ['bags-1']);
  t.match((await app.inject({ method: 'GET', url: '/v1/import-jobs' })).json(), { jobs: [{ jobId }] });

  const missing = await post({ interactions: join(dir, 'nowhere.csv') });
  t.equal(missing.statusCode, 400);
  t.strictSame(missing.json(), { error: { code: 'ATTUNE_ERR_VALIDATION', message: `interactions: ${join(dir, 'nowhere.csv')} does not exist` } });
  t.match((await post({})).json(), { error: { code: 'ATTUNE_ERR_VALIDATION', message: /give at least one of interactions, items, users/ } });
  t.match((await post({ interactions, format: 'xml' })).json(), { error: { code: 'ATTUNE_ERR_VALIDATION', message: /format/ } });
  t.match((await post({ interactions, other: 1 })).json(), { error: { code: 'ATTUNE_ERR_VALIDATION', message: 'body has an unknown property "other"' } });
  const unknown = await app.inject({ method: 'GET', url: '/v1/import-jobs/no-such-job' });
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json(), { error: { code: 'ATTUNE_ERR_NOT_FOUND', message: /no import job no-such-job/ } });
  // Requests refused by the schema never reach the handler; the others are audited.
  t.strictSame(audited, ['import.start ok', 'import.start failed', 'import.start failed'], 'the missing file and the empty request');
});
