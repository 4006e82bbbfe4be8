import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { createMetrics } from '../../src/ops/metrics.js';
import { findTool, isRecord, readYaml, ROOT, runTool } from './tools.js';

/*
 * deploy/helm/attune, rendered and linted by helm itself (deploy/scripts/install-check-tools.sh
 * installs it; ATTUNE_HELM=path names another). Without helm every check here skips, saying so.
 */

const CHART = join(ROOT, 'deploy', 'helm', 'attune');
const helm = findTool('helm', process.env.ATTUNE_HELM);
const skip = helm === null ? 'helm is not installed (bash deploy/scripts/install-check-tools.sh; or ATTUNE_HELM=path)' : false;
const BASE = ['--set', 'redis.url=redis://redis-master:6379', '--set', 'secrets.existingSecret=attune-secrets'];

type Manifest = Record<string, unknown>;

/** `helm template` of the chart (or `chart`): the manifests, or helm's error. */
async function render(args: readonly string[], chart = CHART): Promise<{ code: number; manifests: Manifest[]; stderr: string }> {
  const run = await runTool(helm as string, ['template', 'attune', chart, ...args]);
  const manifests = run.code === 0 ? parseAllDocuments(run.stdout).map((doc) => doc.toJS() as unknown).filter(isRecord) : [];
  return { code: run.code, manifests, stderr: run.stderr };
}

function only(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} ${kind} manifests`);
  return found[0];
}

/** A path into a manifest, e.g. at(m, 'spec', 'template', 'spec'). */
function at(value: unknown, ...path: Array<string | number>): unknown {
  let current = value;
  for (const step of path) current = isRecord(current) || Array.isArray(current) ? (current as Record<string | number, unknown>)[step] : undefined;
  return current;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, Record<string, unknown>>;
}

function container(manifests: Manifest[]): Record<string, unknown> {
  const found = at(only(manifests, 'Deployment'), 'spec', 'template', 'spec', 'containers', 0);
  if (!isRecord(found)) throw new Error('no container');
  return found;
}
const envOf = (manifests: Manifest[]): EnvVar[] => container(manifests).env as EnvVar[];

t.test('helm lint --strict passes with the values a release must give', { skip }, async (t) => {
  const lint = await runTool(helm as string, ['lint', '--strict', CHART, ...BASE]);
  t.equal(lint.code, 0, lint.stdout + lint.stderr);
  t.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

t.test('the default release: Deployment, Service, PodDisruptionBudget and a CPU autoscaler, nothing optional', { skip }, async (t) => {
  const { code, manifests, stderr } = await render(BASE);
  t.equal(code, 0, stderr);
  t.strictSame(manifests.map((m) => m.kind).sort(), ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  const deployment = only(manifests, 'Deployment');
  t.equal(at(deployment, 'spec', 'replicas'), undefined, 'the autoscaler owns the replica count');
  const hpa = only(manifests, 'HorizontalPodAutoscaler');
  t.equal(hpa.apiVersion, 'autoscaling/v2');
  t.strictSame(at(hpa, 'spec', 'scaleTargetRef'), { apiVersion: 'apps/v1', kind: 'Deployment', name: 'attune' });
  t.equal(at(hpa, 'spec', 'minReplicas'), 3);
  t.strictSame(at(hpa, 'spec', 'metrics'), [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
  t.strictSame(at(only(manifests, 'PodDisruptionBudget'), 'spec'), { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'attune', 'app.kubernetes.io/instance': 'attune' } } });
  t.strictSame(at(only(manifests, 'Service'), 'spec', 'ports'), [{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
});

t.test('the pods: probes, drain time, the image\'s user and port, Redis from values, secrets from the Secret', { skip }, async (t) => {
  const { manifests } = await render(BASE);
  const pod = at(only(manifests, 'Deployment'), 'spec', 'template', 'spec') as Record<string, unknown>;
  const main = container(manifests);
  t.strictSame(main.args, ['serve'], 'the image\'s entry point runs `node bin/attune.js serve`');
  t.strictSame(at(main, 'readinessProbe', 'httpGet'), { path: '/readyz', port: 'http', scheme: 'HTTP' });
  t.strictSame(at(main, 'livenessProbe', 'httpGet'), { path: '/healthz', port: 'http', scheme: 'HTTP' });
  t.strictSame(at(main, 'startupProbe', 'httpGet'), { path: '/healthz', port: 'http', scheme: 'HTTP' });
  t.ok(Number(pod.terminationGracePeriodSeconds) >= 30, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds}: time to hand the shards off`);
  t.equal(at(main, 'lifecycle'), undefined, 'no preStop: SIGTERM drains the node');
  t.equal(pod.enableServiceLinks, false, 'no ATTUNE_PORT=tcp://... from a Service named attune');
  t.match(at(main, 'resources', 'requests'), { cpu: /\S/, memory: /\S/ }, 'requests, which the CPU autoscaler needs');

  // The Dockerfile's USER and EXPOSE.
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const [uid, gid] = (/^USER (\d+):(\d+)$/m.exec(dockerfile) ?? []).slice(1).map(Number);
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup: gid });
  t.match(main.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  t.strictSame(main.ports, [{ name: 'http', containerPort: Number(/^EXPOSE (\d+)$/m.exec(dockerfile)?.[1]), protocol: 'TCP' }]);
  t.match(main.volumeMounts, [{ name: 'data', mountPath: /^\/var\/lib\/attune$/ }, { name: 'tmp', mountPath: '/tmp' }], 'the data directory (ATTUNE_DATA_DIR in the image) is writable');
  t.match(dockerfile, /ATTUNE_DATA_DIR=\/var\/lib\/attune/);

  const env = envOf(manifests);
  const value = (name: string): unknown => env.find((e) => e.name === name)?.value;
  t.equal(value('ATTUNE_REDIS_URL'), 'redis://redis-master:6379');
  t.equal(value('ATTUNE_PORT'), '8080');
  t.equal(value('ATTUNE_SHARDS'), '256');
  t.strictSame(env.find((e) => e.name === 'ATTUNE_NODE_ID')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } }, 'each pod its own node id');
  t.notOk(env.some((e) => e.name === 'ATTUNE_DEV'), 'not in development mode');
  const fromSecret = env.filter((e) => e.valueFrom?.secretKeyRef !== undefined).map((e) => [e.name, e.valueFrom?.secretKeyRef]);
  t.strictSame(fromSecret, [
    ['ATTUNE_MASTER_KEY', { name: 'attune-secrets', key: 'ATTUNE_MASTER_KEY' }],
    ['ATTUNE_TOKEN_SECRET', { name: 'attune-secrets', key: 'ATTUNE_TOKEN_SECRET' }],
    ['ATTUNE_PSEUDONYM_KEY', { name: 'attune-secrets', key: 'ATTUNE_PSEUDONYM_KEY' }],
    ['ATTUNE_SIGV4_SECRET', { name: 'attune-secrets', key: 'ATTUNE_SIGV4_SECRET', optional: true }],
    ['ATTUNE_ENCRYPTION_KEYS', { name: 'attune-secrets', key: 'ATTUNE_ENCRYPTION_KEYS', optional: true }],
    ['ATTUNE_REDIS_PASSWORD', { name: 'attune-secrets', key: 'ATTUNE_REDIS_PASSWORD', optional: true }],
  ]);
});

t.test('a Secret only when values ask for one, and a release without secrets or Redis does not render', { skip }, async (t) => {
  const secrets = ['--set', 'redis.url=redis://r:6379', '--set', 'secrets.create=true', '--set', `secrets.masterKey=${'m'.repeat(40)}`, '--set', `secrets.tokenSecret=${'t'.repeat(40)}`];
  const created = await render([...secrets, '--set', `secrets.pseudonymKey=${'p'.repeat(40)}`, '--set', `secrets.redisPassword=${'r'.repeat(12)}`]);
  t.equal(created.code, 0, created.stderr);
  const secret = only(created.manifests, 'Secret');
  t.strictSame(secret.stringData, { ATTUNE_MASTER_KEY: 'm'.repeat(40), ATTUNE_TOKEN_SECRET: 't'.repeat(40), ATTUNE_PSEUDONYM_KEY: 'p'.repeat(40), ATTUNE_REDIS_PASSWORD: 'r'.repeat(12) }, 'unset optional secrets are left out');
  t.equal(at(envOf(created.manifests).find((e) => e.name === 'ATTUNE_MASTER_KEY'), 'valueFrom', 'secretKeyRef', 'name'), at(secret, 'metadata', 'name'));
  t.match(at(only(created.manifests, 'Deployment'), 'spec', 'template', 'metadata', 'annotations'), { 'checksum/secret': /^[0-9a-f]{64}$/ }, 'pods roll when the Secret changes');

  const cases: Array<[string, string[], RegExp]> = [
    ['a created Secret without the pseudonym key', secrets, /secrets\.pseudonymKey is required with secrets\.create/],
    ['neither a Secret to create nor one to use', ['--set', 'redis.url=redis://r:6379'], /set secrets\.existingSecret to a Secret with ATTUNE_MASTER_KEY/],
    ['no Redis', ['--set', 'secrets.existingSecret=s'], /set redis\.url \(redis:\/\/host:6379\) or redis\.cluster/],
    ['an unknown autoscaling metric', [...BASE, '--set', 'autoscaling.metric=memory'], /autoscaling\.metric must be cpu or eventsPerSecond, not "memory"/],
  ];
  for (const [what, args, message] of cases) {
    const failed = await render(args);
    t.not(failed.code, 0, `${what}: helm refuses`);
    t.match(failed.stderr, message, `${what}: and says what to set`);
  }
});

t.test('without the autoscaler, 3 replicas; with Redis Cluster, its seeds', { skip }, async (t) => {
  const fixed = await render([...BASE, '--set', 'autoscaling.enabled=false']);
  t.equal(at(only(fixed.manifests, 'Deployment'), 'spec', 'replicas'), 3);
  t.notOk(fixed.manifests.some((m) => m.kind === 'HorizontalPodAutoscaler'));
  const cluster = await render(['--set', 'secrets.existingSecret=s', '--set', 'redis.cluster={r1:7000,r2:7001}']);
  t.strictSame(envOf(cluster.manifests).filter((e) => e.name.startsWith('ATTUNE_REDIS_')).map((e) => [e.name, e.value ?? e.valueFrom]), [
    ['ATTUNE_REDIS_CLUSTER', 'r1:7000,r2:7001'],
    ['ATTUNE_REDIS_PASSWORD', { secretKeyRef: { name: 's', key: 'ATTUNE_REDIS_PASSWORD', optional: true } }],
  ]);
});

t.test('the events-per-second autoscaler uses the metric the prometheus-adapter rule serves', { skip }, async (t) => {
  const { manifests } = await render([...BASE, '--set', 'autoscaling.metric=eventsPerSecond', '--set', 'autoscaling.eventsPerSecond.targetAverageValue=800']);
  t.strictSame(at(only(manifests, 'HorizontalPodAutoscaler'), 'spec', 'metrics'), [{ type: 'Pods', pods: { metric: { name: 'attune_events_per_second' }, target: { type: 'AverageValue', averageValue: '800' } } }]);
  const adapter = readYaml('deploy/helm/prometheus-adapter-values.yaml');
  const rule = at(adapter, 'rules', 'custom', 0) as Record<string, unknown>;
  t.equal(at(rule, 'name', 'as'), 'attune_events_per_second');
  const series = /^(\w+)\{/.exec(String(rule.seriesQuery))?.[1] ?? '';
  t.equal(series, 'attune_events_accepted_total');
  t.ok((await createMetrics().registry.getMetricsAsJSON()).some((m) => m.name === series), `${series} is a series the nodes expose`);
  t.equal(at(rule, 'name', 'matches'), `^${series}$`);
});

t.test('ServiceMonitor, PrometheusRule and the rules ConfigMap behind their flags, with ops/prometheus/alerts.yml as it is', { skip }, async (t) => {
  const { code, manifests, stderr } = await render([...BASE, '--set', 'serviceMonitor.enabled=true', '--set', 'serviceMonitor.labels.release=kube-prometheus-stack', '--set', 'prometheusRule.enabled=true', '--set', 'alertRulesConfigMap.enabled=true']);
  t.equal(code, 0, stderr);
  const monitor = only(manifests, 'ServiceMonitor');
  t.match(monitor.metadata, { labels: { release: 'kube-prometheus-stack' } });
  t.equal(at(monitor, 'spec', 'jobLabel'), 'app.kubernetes.io/name');
  t.equal(at(only(manifests, 'Service'), 'metadata', 'labels', 'app.kubernetes.io/name'), 'attune', 'so job="attune", as AttuneNodeDown selects');
  t.strictSame(at(monitor, 'spec', 'endpoints'), [{ port: 'http', path: '/metrics', scheme: 'http', interval: '15s' }]);
  const rules = (readYaml('ops/prometheus/alerts.yml') as { groups: unknown }).groups;
  t.strictSame(at(only(manifests, 'PrometheusRule'), 'spec', 'groups'), rules, 'the PrometheusRule holds the rules unchanged ({{ $labels }} included)');
  t.strictSame((parse(String(at(only(manifests, 'ConfigMap'), 'data', 'alerts.yml'))) as { groups: unknown }).groups, rules, 'so does the ConfigMap');
});

t.test('a broken template fails the render (these checks can fail)', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-chart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'attune');
  cpSync(CHART, copy, { recursive: true, dereference: true });
  const template = join(copy, 'templates', 'service.yaml');
  writeFileSync(template, readFileSync(template, 'utf8').replace('{{- include "attune.labels" . | nindent 4 }}', '{{- include "attune.labels" . | nindent 4 }'));
  const broken = await render(BASE, copy);
  t.not(broken.code, 0);
  t.match(broken.stderr, /service\.yaml/);
});
