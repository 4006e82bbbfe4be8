import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { demoCatalog, demoInteractions } from '../../src/demo/catalog.js';
import type { ModelManifest } from '../../src/model/types.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';
import { startNode } from '../support/cluster-nodes.js';
import { authHeaders, demoModelDir, waitFor } from '../helpers.js';
import { findTool, isRecord, readYaml, ROOT, runTool } from './tools.js';

/*
 * ops/prometheus/alerts.yml: its shape, promtool's check and unit tests (alerts.test.yml), and
 * that every series an expression names is one a real node exposes, with the labels it selects on.
 */

const RULES_FILE = 'ops/prometheus/alerts.yml';

interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  severity: string;
  summary: string;
  description: string;
}

function alertRules(): AlertRule[] {
  const file = readYaml(RULES_FILE);
  if (!isRecord(file) || !Array.isArray(file.groups)) throw new Error(`${RULES_FILE}: no groups`);
  return file.groups.flatMap((group: unknown) => {
    if (!isRecord(group) || !Array.isArray(group.rules)) throw new Error(`${RULES_FILE}: a group without rules`);
    return group.rules.map((rule: unknown): AlertRule => {
      if (!isRecord(rule) || !isRecord(rule.labels) || !isRecord(rule.annotations)) throw new Error(`${RULES_FILE}: ${JSON.stringify(rule)} lacks labels or annotations`);
      const text = (value: unknown): string => (typeof value === 'string' ? value : '');
      return {
        alert: text(rule.alert),
        expr: text(rule.expr),
        for: text(rule.for),
        severity: text(rule.labels.severity),
        summary: text(rule.annotations.summary),
        description: text(rule.annotations.description),
      };
    });
  });
}

t.test('every rule is an alert with an expression, a duration, a severity, a summary and a description', async (t) => {
  const rules = alertRules();
  t.strictSame(
    rules.map((rule) => rule.alert),
    [
      'AttuneRecommendationLatencyHigh',
      'AttuneEventToPushLatencyHigh',
      'AttunePutEventsErrorRate',
      'AttuneInferenceFallbackRate',
      'AttuneModelStale',
      'AttuneModelVersionsDiffer',
      'AttuneNodeDown',
      'AttuneShardsWithoutOwner',
      'AttuneRedisUnavailable',
      'AttuneRedisCommandsRefused',
      'AttuneImportJobFailed',
      'AttuneImportRowsRejected',
    ],
  );
  for (const rule of rules) {
    t.not(rule.expr.trim(), '', `${rule.alert}: expr`);
    t.match(rule.for, /^\d+[smh]$/, `${rule.alert}: for`);
    t.ok(['warning', 'critical'].includes(rule.severity), `${rule.alert}: severity ${rule.severity}`);
    t.not(rule.summary, '', `${rule.alert}: summary`);
    t.ok(rule.description.length > rule.summary.length, `${rule.alert}: a description that says more than the summary`);
  }
});

const promtool = findTool('promtool', process.env.ATTUNE_PROMTOOL);

t.test('promtool accepts the rules, and their unit tests pass', { skip: promtool === null ? 'promtool is not installed (apt-get install prometheus; or ATTUNE_PROMTOOL=path)' : false }, async (t) => {
  const tool = promtool as string;
  const check = await runTool(tool, ['check', 'rules', RULES_FILE]);
  t.equal(check.code, 0, check.stdout + check.stderr);
  t.match(check.stdout, `SUCCESS: ${alertRules().length} rules found`);
  const unit = await runTool(tool, ['test', 'rules', 'alerts.test.yml'], { cwd: join(ROOT, 'ops', 'prometheus') });
  t.equal(unit.code, 0, unit.stdout + unit.stderr);
  t.match(unit.stdout, /SUCCESS/);
});

t.test('promtool fails a rule file with a broken expression (the check above can fail)', { skip: promtool === null ? 'promtool is not installed' : false }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'attune-alerts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const broken = (await readFile(join(ROOT, RULES_FILE), 'utf8')).replace('> 0.25', '> > 0.25');
  await writeFile(join(dir, 'alerts.yml'), broken);
  const check = await runTool(promtool as string, ['check', 'rules', join(dir, 'alerts.yml')]);
  t.not(check.code, 0);
  t.match(check.stdout + check.stderr, /AttuneRecommendationLatencyHigh|parse error/);
});

/** A /metrics exposition: each family's type, and the label names seen on each sample name. */
interface Exposition {
  types: Map<string, string>;
  labels: Map<string, Set<string>>;
  text: string;
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (sample) {
      const names = labels.get(sample[1]) ?? new Set<string>();
      for (const match of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) names.add(match[1]);
      labels.set(sample[1], names);
    }
  }
  return { types, labels, text };
}

/** Whether `name` is a sample name of an exposed family: the family itself, or a histogram's _bucket, _sum and _count. */
function exposes(exposition: Exposition, name: string): boolean {
  if (exposition.types.has(name)) return true;
  const suffixed = /^(.*)_(bucket|sum|count)$/.exec(name);
  return suffixed !== null && exposition.types.get(suffixed[1]) === 'histogram';
}

/** Label names the rules' selectors match on, by series; job and instance come from the scrape, not the node. */
function selectedLabels(expr: string): Array<{ series: string; label: string }> {
  const selected: Array<{ series: string; label: string }> = [];
  for (const selector of expr.matchAll(/\b(attune_[a-z0-9_]+)\{([^}]*)\}/g)) {
    for (const matcher of selector[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (matcher[1] !== 'job' && matcher[1] !== 'instance') selected.push({ series: selector[1], label: matcher[1] });
    }
  }
  return selected;
}

t.test('every series the rules use is exposed by a running node on Redis, with the labels they select on', async (t) => {
  const rules = alertRules();
  const used = new Set(rules.flatMap((rule) => rule.expr.match(/\battune_[a-z0-9_]+/g) ?? []));
  t.strictSame(
    rules.filter((rule) => /\bup\{/.test(rule.expr)).map((rule) => rule.alert),
    ['AttuneNodeDown'],
    'only AttuneNodeDown uses a series of Prometheus\'s own (up)',
  );

  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const importDir = await mkdtemp(join(tmpdir(), 'attune-alerts-import-'));
  t.teardown(() => rm(importDir, { recursive: true, force: true }));
  const modelDir = await demoModelDir();
  const node = await startNode({ redisUrl: redis.url, nodeId: 'alerts-1', shards: 8, leaseTtlMs: 1500, modelDir, args: ['--import-dir', importDir] });
  t.teardown(() => node.stop(5000));
  const scrape = async (): Promise<Exposition> => parseExposition(await (await fetch(`${node.url}/metrics`)).text());

  // What a node exposes only once it happened: an event, an import job's rows, Redis failing.
  const put = await fetch(`${node.url}/v1/events`, {
    method: 'POST',
    headers: { ...authHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ sessionId: 'alerts', eventList: [{ eventType: 'view', itemId: demoCatalog()[0].itemId }] }),
  });
  t.equal(put.status, 200, 'an event is accepted');
  await writeFile(join(importDir, 'interactions.csv'), ['USER_ID,ITEM_ID,TIMESTAMP', `ann,${demoCatalog()[1].itemId},1700000000`, 'ann,,1700000001'].join('\n'));
  const started = await fetch(`${node.url}/v1/import-jobs`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ interactions: 'interactions.csv' }) });
  t.equal(started.status, 202, 'an import job starts');
  const { jobId } = (await started.json()) as { jobId: string };
  let status = '';
  await waitFor('the import job to finish', async () => {
    status = ((await (await fetch(`${node.url}/v1/import-jobs/${jobId}`, { headers: authHeaders })).json()) as { status: string }).status;
    return status !== 'running';
  }, 30_000);
  t.equal(status, 'succeeded');
  const healthy = await scrape();
  t.match(healthy.text, /^attune_import_jobs_total\{outcome="failed"\} 0$/m, 'failed import jobs are exposed at 0 before any fails');
  t.match(healthy.text, /^attune_import_rows_total\{kind="interactions",outcome="rejected"\} 1$/m, 'the bad row is counted');
  t.match(healthy.text, /^attune_shard_count 8$/m, 'the shard count is --shards');
  const manifest = JSON.parse(await readFile(join(modelDir, 'manifest.json'), 'utf8')) as ModelManifest;
  t.match(healthy.text, new RegExp(`^attune_model_created_timestamp_seconds\\{version="${manifest.version}"\\} ${Date.parse(manifest.createdAt) / 1000}$`, 'm'), 'the served bundle\'s creation time, by version');

  redis.kill('SIGKILL');
  let failing = healthy;
  await waitFor('a Redis error counted as unavailable', async () => /^attune_redis_errors_total\{[^}]*kind="unavailable"[^}]*\} [1-9]/m.test((failing = await scrape()).text), 30_000);

  t.strictSame([...used].filter((name) => !exposes(failing, name)), [], `all ${used.size} series the rules use are exposed`);
  for (const { series, label } of selectedLabels(rules.map((rule) => rule.expr).join('\n'))) {
    t.ok(failing.labels.get(series)?.has(label), `${series} has the label ${label}`);
  }
});

t.test('a model swap replaces the served bundle\'s creation time', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const node = await startNode({ redisUrl: redis.url, nodeId: 'alerts-swap', shards: 4, leaseTtlMs: 5000, modelDir: await demoModelDir() });
  t.teardown(() => node.stop(5000));
  const dir = await mkdtemp(join(tmpdir(), 'attune-alerts-bundle-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const next = await writeBundle(dir, trainItemItem(demoInteractions(), { neighbours: 8, window: 2 }), { createdAt: new Date('2024-02-03T04:05:06Z') });
  const swap = await fetch(`${node.url}/v1/admin/model`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ dir }) });
  t.equal(swap.status, 200, 'the bundle is swapped in');
  const text = await (await fetch(`${node.url}/metrics`)).text();
  t.strictSame(
    text.split('\n').filter((line) => line.startsWith('attune_model_created_timestamp_seconds')),
    [`attune_model_created_timestamp_seconds{version="${next.version}"} ${Date.parse('2024-02-03T04:05:06Z') / 1000}`],
    'one series: the new bundle\'s',
  );
});
