import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { findTool, isRecord, readYaml, ROOT, runTool } from './tools.js';

/*
 * deploy/compose.yaml: three nodes on one Redis, Prometheus with the alert rules, Grafana with
 * the dashboard. No Docker daemon runs here: the file is read as YAML (merge keys resolved, as
 * Compose does) and, where docker compose or docker-compose is installed, `config` validates it.
 */

const DEPLOY = join(ROOT, 'deploy');
const NODES = ['attune-1', 'attune-2', 'attune-3'];
const SECRETS = ['ATTUNE_MASTER_KEY', 'ATTUNE_TOKEN_SECRET', 'ATTUNE_PSEUDONYM_KEY'];

type Service = Record<string, unknown>;

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) throw new Error(`${what} is not a mapping`);
  return value;
}

const compose = record(parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true }), 'compose.yaml');
const services = record(compose.services, 'services');
const service = (name: string): Service => record(services[name], `service ${name}`);
const environment = (name: string): Record<string, unknown> => record(service(name).environment, `${name}.environment`);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);
/** A bind mount's host path (relative to deploy/) and its target; named volumes are skipped. */
function binds(name: string): Array<{ source: string; target: string }> {
  return strings(service(name).volumes)
    .map((volume) => volume.split(':'))
    .filter(([source]) => source.startsWith('.'))
    .map(([source, target]) => ({ source: resolve(DEPLOY, source), target }));
}

t.test('the services: Redis, three Attune nodes, Prometheus, Grafana', async (t) => {
  t.strictSame(Object.keys(services).sort(), ['attune-1', 'attune-2', 'attune-3', 'grafana', 'prometheus', 'redis']);
  t.notOk('version' in compose, 'no obsolete version key');
});

t.test('the nodes: one image built from the Dockerfile, one Redis, their own ids, the same secrets from .env', async (t) => {
  const ids = NODES.map((name) => environment(name).ATTUNE_NODE_ID);
  t.strictSame(ids, ['node-1', 'node-2', 'node-3'], 'a node id each');
  for (const name of NODES) {
    const node = service(name);
    const build = record(node.build, `${name}.build`);
    t.equal(resolve(DEPLOY, String(build.context)), ROOT.replace(/\/$/, ''), `${name}: built from the repository`);
    t.ok(existsSync(join(resolve(DEPLOY, String(build.context)), String(build.dockerfile))), `${name}: the Dockerfile exists`);
    const env = environment(name);
    t.equal(env.ATTUNE_REDIS_URL, 'redis://redis:6379', `${name}: on the redis service`);
    t.notOk('ATTUNE_DEV' in env, `${name}: not in development mode`);
    for (const secret of SECRETS) t.match(String(env[secret]), new RegExp(`^\\$\\{${secret}:\\?[^}]+\\}$`), `${name}: ${secret} must come from .env`);
    const health = record(node.healthcheck, `${name}.healthcheck`);
    t.strictSame(strings(health.test), ['CMD', 'node', 'deploy/docker/healthcheck.mjs', '/readyz'], `${name}: healthy means ready`);
    t.strictSame(record(node.depends_on, `${name}.depends_on`).redis, { condition: 'service_healthy' }, `${name}: starts once Redis answers`);
    t.strictSame(strings(node.volumes), [`${name}-data:/var/lib/attune`], `${name}: its own data volume`);
    t.ok(node.init === true, `${name}: an init process reaps and forwards signals`);
    t.match(String(node.stop_grace_period), /^\d+s$/, `${name}: time to hand its shards off`);
  }
  t.strictSame(NODES.map((name) => strings(service(name).ports)), [['8081:8080'], ['8082:8080'], ['8083:8080']]);
  t.notOk(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8').match(/ATTUNE_(MASTER_KEY|TOKEN_SECRET|PSEUDONYM_KEY): [^$]/), 'no secret value in the file');
});

t.test('Redis keeps an append-only file and reports health', async (t) => {
  const redis = service('redis');
  t.match(strings(redis.command).join(' '), /--appendonly yes/);
  t.strictSame(strings(record(redis.healthcheck, 'redis.healthcheck').test), ['CMD', 'redis-cli', 'ping']);
  t.notOk('ports' in redis, 'Redis is reachable from the compose network only');
});

t.test('Prometheus scrapes the three nodes as job "attune" and loads ops/prometheus/alerts.yml', async (t) => {
  const mounts = binds('prometheus');
  const config = mounts.find((m) => m.target === '/etc/prometheus/prometheus.yml');
  t.equal(config?.source, join(DEPLOY, 'prometheus', 'prometheus.yml'));
  const prometheus = record(readYaml('deploy/prometheus/prometheus.yml'), 'prometheus.yml');
  const ruleFiles = strings(prometheus.rule_files);
  t.equal(ruleFiles.length, 1);
  t.equal(mounts.find((m) => m.target === ruleFiles[0])?.source, join(ROOT, 'ops', 'prometheus', 'alerts.yml'), 'the rule file it names is alerts.yml');
  const jobs = (prometheus.scrape_configs as unknown[]).map((job) => record(job, 'scrape config'));
  t.strictSame(jobs.map((job) => job.job_name), ['attune'], 'job "attune", which AttuneNodeDown selects');
  const targets = (jobs[0].static_configs as unknown[]).flatMap((c) => strings(record(c, 'static config').targets));
  t.strictSame(targets, NODES.map((name) => `${name}:8080`));
  for (const mount of mounts) t.ok(existsSync(mount.source), `${mount.source} exists`);
});

t.test('Grafana provisions the Prometheus data source and the dashboard', async (t) => {
  const mounts = binds('grafana');
  const provisioning = mounts.find((m) => m.target === '/etc/grafana/provisioning');
  t.equal(provisioning?.source, join(DEPLOY, 'grafana', 'provisioning'));
  const datasources = record(readYaml('deploy/grafana/provisioning/datasources/prometheus.yaml'), 'datasources');
  t.match(datasources.datasources, [{ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true }]);
  const providers = record(readYaml('deploy/grafana/provisioning/dashboards/attune.yaml'), 'dashboards');
  const folder = String(record(record((providers.providers as unknown[])[0], 'provider').options, 'options').path);
  const dashboard = mounts.find((m) => dirname(m.target) === folder);
  t.equal(dashboard?.source, join(ROOT, 'ops', 'grafana', 'attune-dashboard.json'), 'the dashboard is mounted where the provider reads');
  t.match(String(record(service('grafana').environment, 'grafana.environment').GF_SECURITY_ADMIN_PASSWORD), /^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
  for (const mount of mounts) t.ok(existsSync(mount.source), `${mount.source} exists`);
});

t.test('.env.example names every variable compose requires, and git ignores the filled-in .env', async (t) => {
  const example = readFileSync(join(DEPLOY, '.env.example'), 'utf8');
  const required = [...readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8').matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]);
  t.strictSame([...new Set(required)].sort(), [...SECRETS, 'GRAFANA_ADMIN_PASSWORD'].sort());
  for (const name of required) t.match(example, new RegExp(`^${name}=$`, 'm'), `${name} is in .env.example, empty`);
  t.match(readFileSync(join(DEPLOY, '.gitignore'), 'utf8'), /^\.env$/m);
});

const promtool = findTool('promtool', process.env.ATTUNE_PROMTOOL);

t.test('promtool accepts the Prometheus configuration with the rules where compose mounts them', { skip: promtool === null ? 'promtool is not installed (apt-get install prometheus)' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-prometheus-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8').replace('/etc/prometheus/rules/alerts.yml', join(ROOT, 'ops', 'prometheus', 'alerts.yml'));
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const check = await runTool(promtool as string, ['check', 'config', join(dir, 'prometheus.yml')]);
  t.equal(check.code, 0, check.stdout + check.stderr);
  t.match(check.stdout, /SUCCESS: 12 rules found/);
});

/** `docker compose` (v2) or `docker-compose` (v1) as a command line, or null. */
async function composeCommand(): Promise<string[] | null> {
  const docker = findTool('docker');
  if (docker !== null && (await runTool(docker, ['compose', 'version'])).code === 0) return [docker, 'compose'];
  const v1 = findTool('docker-compose');
  return v1 === null ? null : [v1];
}
const composeCli = await composeCommand();

t.test('docker compose config accepts the file, and refuses it without the secrets', { skip: composeCli === null ? 'neither docker compose nor docker-compose is installed (apt-get install docker-compose)' : false }, async (t) => {
  const [command, ...prefix] = composeCli as string[];
  const dir = mkdtempSync(join(tmpdir(), 'attune-compose-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const values = { COMPOSE_PROJECT_NAME: 'attune', ATTUNE_MASTER_KEY: 'compose-test-master-key-0123456789abcdef', ATTUNE_TOKEN_SECRET: 'compose-test-token-secret-0123456789abcd', ATTUNE_PSEUDONYM_KEY: 'compose-test-pseudonym-key-0123456789abc', GRAFANA_ADMIN_PASSWORD: 'compose-test' };
  const envFile = (entries: Record<string, string>): string => {
    const path = join(dir, `${Object.keys(entries).length}.env`);
    writeFileSync(path, Object.entries(entries).map(([k, v]) => `${k}=${v}\n`).join(''));
    return path;
  };
  // Only the env file speaks: none of this process's variables may fill in a secret.
  const env = { PATH: process.env.PATH, HOME: dir };
  const ok = await runTool(command, [...prefix, '--env-file', envFile(values), 'config'], { cwd: DEPLOY, env });
  t.equal(ok.code, 0, ok.stderr);
  const rendered = record(parse(ok.stdout), 'config output');
  const renderedServices = record(rendered.services, 'services');
  t.strictSame(Object.keys(renderedServices).sort(), ['attune-1', 'attune-2', 'attune-3', 'grafana', 'prometheus', 'redis']);
  for (const name of NODES) {
    t.equal(record(record(renderedServices[name], name).environment, 'environment').ATTUNE_TOKEN_SECRET, values.ATTUNE_TOKEN_SECRET, `${name} gets the secret from the env file`);
  }
  const { ATTUNE_PSEUDONYM_KEY: _omitted, ...withoutKey } = values;
  const missing = await runTool(command, [...prefix, '--env-file', envFile(withoutKey), 'config'], { cwd: DEPLOY, env });
  t.not(missing.code, 0, 'a missing secret stops compose');
  t.match(missing.stderr, 'set ATTUNE_PSEUDONYM_KEY in deploy/.env');
});
