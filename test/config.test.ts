import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, defaultConfig, loadConfig, mergeConfig, OPTIONS } from '../src/config.js';

t.test('defaults < environment < flags', async (t) => {
  t.strictSame(loadConfig([], {}), defaultConfig);
  t.equal(loadConfig([], { PORT: '9000' }).port, 9000);
  t.equal(loadConfig([], { PORT: '9000', ATTUNE_PORT: '9100' }).port, 9100, 'ATTUNE_PORT wins over PORT');
  t.equal(loadConfig(['--port', '9200'], { ATTUNE_PORT: '9100' }).port, 9200);
  t.equal(loadConfig(['--port=9300'], {}).port, 9300);
  const c = loadConfig(['--idle-ms', '5', '--demo-catalog', 'false', '--score-threads=2'], { ATTUNE_PASSIVATE_MS: '7', ATTUNE_MODEL_DIR: '/models/x' });
  t.strictSame(c.actors, { ...defaultConfig.actors, idleMs: 5, passivateMs: 7 });
  t.equal(c.demoCatalog, false);
  t.equal(c.scoring.intraOpThreads, 2);
  t.equal(c.modelDir, '/models/x');
  t.equal(loadConfig(['--demo-catalog'], {}).demoCatalog, true, 'a bare boolean flag means true');
  t.equal(loadConfig(['--demo-catalog', 'off'], {}).demoCatalog, false, 'a boolean flag takes a following true or false');
  t.throws(() => loadConfig(['--dev', 'serve'], {}), new ConfigError('unexpected argument "serve"'), '...and nothing else');
});

t.test('bad values name the option and what was expected', async (t) => {
  t.throws(() => loadConfig(['--port', '70000'], {}), new ConfigError('--port must be an integer from 0 to 65535, got "70000"'));
  t.throws(() => loadConfig([], { ATTUNE_PORT: 'http' }), new ConfigError('ATTUNE_PORT must be an integer from 0 to 65535, got "http"'));
  t.throws(() => loadConfig(['--log-level', 'loud'], {}), new ConfigError('--log-level must be one of silent, error, warn, info, debug, got "loud"'));
  t.throws(() => loadConfig(['--colour'], {}), new ConfigError('unknown option --colour (see attune help)'));
  t.throws(() => loadConfig(['--port'], {}), new ConfigError('--port needs a value'));
  t.throws(() => loadConfig(['--host', '--port', '1'], {}), new ConfigError('--host needs a value'), 'a value never starts with --');
  t.throws(() => loadConfig(['serve'], {}), new ConfigError('unexpected argument "serve"'));
});

t.test('mergeConfig merges nested groups key by key', async (t) => {
  const c = mergeConfig({ scoring: { timeoutMs: 5 }, reducer: { halfLifeMs: 10 } });
  t.strictSame(c.scoring, { ...defaultConfig.scoring, timeoutMs: 5 });
  t.equal(c.reducer.recentMax, defaultConfig.reducer.recentMax);
  t.equal(c.reducer.halfLifeMs, 10);
});

t.test('the README documents every option, with its environment variables', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const option of OPTIONS) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`--${option.flag}\` |`));
    t.ok(row !== undefined && option.env.every((name) => row.includes(`\`${name}\``)), `--${option.flag} (${option.env.join(', ')})`);
  }
});

t.test('settings that contradict each other are a ConfigError when the config is loaded', async (t) => {
  t.throws(() => mergeConfig({ security: { rateSessionBurst: 9 } }), new ConfigError('the session rate burst must be at least 10 (one full put), got 9'));
  t.throws(() => loadConfig(['--encryption-required'], {}), new ConfigError('--encryption-required needs --encryption-keys'));
  const ca = join(t.testdir({ 'ca.pem': 'PEM' }), 'ca.pem');
  t.throws(() => loadConfig(['--redis', 'redis://127.0.0.1:6379', '--redis-tls-ca', ca], {}), new ConfigError('--redis-tls-ca needs a rediss:// URL (TLS); the URL given is redis://'));
  t.equal(loadConfig(['--redis', 'rediss://127.0.0.1:6379'], { ATTUNE_REDIS_TLS_CA: ca }).redis.tlsCa, ca);
  t.throws(() => loadConfig(['--redis-tls-ca', join(ca, 'absent')], {}), /^--redis-tls-ca: cannot read .*absent/);
  t.throws(() => loadConfig(['--rate-session-burst', '9'], {}), new ConfigError('--rate-session-burst must be an integer from 10 to 1000000, got "9"'));
});

t.test('a development node listens on loopback unless a host is given: its secrets are well known', async (t) => {
  t.equal(loadConfig(['--dev'], {}).host, '127.0.0.1', 'attune serve --dev (npm start)');
  t.equal(loadConfig([], { ATTUNE_DEV: 'true' }).host, '127.0.0.1', 'ATTUNE_DEV');
  t.equal(mergeConfig({ security: { dev: true } }).host, '127.0.0.1', 'an embedder\'s dev config');
  t.equal(loadConfig(['--dev', '--host', '0.0.0.0'], {}).host, '0.0.0.0', 'an explicit --host wins');
  t.equal(loadConfig(['--dev'], { ATTUNE_HOST: '10.0.0.5' }).host, '10.0.0.5', 'so does ATTUNE_HOST');
  t.equal(mergeConfig({ host: '::', security: { dev: true } }).host, '::');
  t.equal(loadConfig([], {}).host, '0.0.0.0', 'a production node listens on every interface');
  t.equal(loadConfig(['--dev', 'false'], {}).host, '0.0.0.0');
});

t.test('--tls-cert and --tls-key: readable files, given together', async (t) => {
  const dir = t.testdir({ 'server.crt': 'PEM', 'server.key': 'PEM' });
  const [cert, key] = [join(dir, 'server.crt'), join(dir, 'server.key')];
  t.strictSame(loadConfig(['--tls-cert', cert, '--tls-key', key], {}).security.tlsCert, cert);
  t.throws(() => loadConfig(['--tls-cert', cert], {}), new ConfigError('--tls-cert and --tls-key go together'));
  t.throws(() => mergeConfig({ security: { tlsKey: key } }), new ConfigError('--tls-cert and --tls-key go together'));
  t.throws(() => loadConfig(['--tls-cert', cert], { ATTUNE_TLS_KEY: join(dir, 'absent.key') }), /^ATTUNE_TLS_KEY: cannot read .*absent\.key/);
});

t.test('--model turns the demo catalog off unless it is asked for', async (t) => {
  t.equal(loadConfig([], {}).demoCatalog, true, 'the demo model comes with its catalog');
  t.equal(loadConfig(['--model', '/models/x'], {}).demoCatalog, false, 'a model of your own: no demo items beside it');
  t.equal(loadConfig([], { ATTUNE_MODEL_DIR: '/models/x' }).demoCatalog, false, 'also from the environment');
  t.equal(loadConfig(['--model', '/models/x', '--demo-catalog'], {}).demoCatalog, true, 'asked for: loaded');
  t.equal(loadConfig(['--model', '/models/x'], { ATTUNE_DEMO_CATALOG: 'true' }).demoCatalog, true);
});

t.test('retraining options: durations with units, shares, margins', async (t) => {
  t.strictSame(loadConfig([], {}).retrain, { everyMs: 7 * 86_400_000, afterEvents: 0, holdout: 0.1, margin: 0.01, budgetS: 240 });
  t.equal(loadConfig(['--retrain-every', '12h'], {}).retrain.everyMs, 12 * 3_600_000);
  t.equal(loadConfig(['--retrain-every=30m'], {}).retrain.everyMs, 30 * 60_000);
  t.equal(loadConfig([], { ATTUNE_RETRAIN_EVERY: '7d' }).retrain.everyMs, 7 * 86_400_000);
  t.equal(loadConfig(['--retrain-every', '500ms'], {}).retrain.everyMs, 500);
  t.equal(loadConfig(['--retrain-every', 'off'], {}).retrain.everyMs, 0);
  t.equal(loadConfig(['--retrain-every', '0'], {}).retrain.everyMs, 0);
  t.throws(() => loadConfig(['--retrain-every', '7'], {}), new ConfigError('--retrain-every must be a duration such as 7d, 12h, 30m, 45s or 500ms (at most 3650d), or 0 / off, got "7"'));
  t.throws(() => loadConfig(['--retrain-every', '1w'], {}), ConfigError);
  t.strictSame(
    loadConfig(['--retrain-after-events', '5000', '--retrain-holdout', '0.2', '--retrain-margin', '0', '--retrain-budget-s', '60'], {}).retrain,
    { everyMs: 7 * 86_400_000, afterEvents: 5000, holdout: 0.2, margin: 0, budgetS: 60 },
  );
  t.throws(() => loadConfig(['--retrain-holdout', '0'], {}), new ConfigError('--retrain-holdout must be a number from 0 (exclusive) to 0.5, got "0"'));
  t.throws(() => loadConfig(['--retrain-margin', '-0.1'], {}), new ConfigError('--retrain-margin must be a number from 0 to 1, got "-0.1"'));
});

t.test('--experiment candidate=N%: the candidate share, or a ConfigError that says the form', async (t) => {
  t.equal(loadConfig([], {}).experiment, null, 'no experiment by default');
  t.strictSame(loadConfig(['--experiment', 'candidate=10%'], {}).experiment, { candidateShare: 0.1 });
  t.strictSame(loadConfig([], { ATTUNE_EXPERIMENT: 'candidate=2.5%' }).experiment, { candidateShare: 0.025 });
  t.throws(
    () => loadConfig(['--experiment', 'candidate=10'], {}),
    new ConfigError('--experiment must be candidate=N% with N a percentage from 0 to 100 (at most two decimals), e.g. candidate=10%, got "candidate=10"'),
  );
  t.throws(() => loadConfig([], { ATTUNE_EXPERIMENT: 'candidate=150%' }), new ConfigError('ATTUNE_EXPERIMENT must give the candidate at most 100%, got "candidate=150%"'));
  t.equal(loadConfig(['--experiment=candidate=5%', '--candidate-model', '/models/c'], {}).candidateModelDir, '/models/c');
  t.throws(() => loadConfig(['--candidate-model', '/models/c'], {}), new ConfigError('--candidate-model needs --experiment candidate=N% (the share of users it serves)'));
});
