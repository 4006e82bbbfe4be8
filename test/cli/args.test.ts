import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config.js';
import { parseCommandLine } from '../../src/cli/args.js';
import { IMPORT_OPTIONS } from '../../src/cli/import.js';
import { REPLAY_OPTIONS } from '../../src/cli/replay.js';

/** The config `attune import` and `attune replay` make of the same command line and environment. */
function both(argv: readonly string[], env: Record<string, string> = {}): ReturnType<typeof loadConfig>[] {
  return [
    parseCommandLine('import', IMPORT_OPTIONS, { config: {}, help: false, files: {}, json: false }, argv, env).config,
    parseCommandLine('replay', REPLAY_OPTIONS, { config: {}, help: false, json: false }, argv, env).config,
  ];
}

t.test('a shared option parses the same way in every command, and as attune serve parses it', async (t) => {
  const argv = ['--redis', 'rediss://redis.internal:6380', '--redis-password=pw', '--shards', '8', '--pseudonym-key', 'k'.repeat(32)];
  const [imported, replayed] = both(argv);
  t.strictSame(imported, replayed);
  const served = loadConfig(argv, {});
  t.strictSame(imported.redis, served.redis);
  t.equal(imported.cluster.shardCount, 8);
  t.equal(imported.security.pseudonymKey, 'k'.repeat(32));

  for (const bad of [
    [['--shards', '0'], '--shards must be an integer from 1 to 16384, got "0"'],
    [['--pseudonym-key', 'short'], '--pseudonym-key must be at least 32 characters'],
    [['--encryption-keys', 'a:b'], '--encryption-keys: key "a" must be 32 bytes in base64'],
    [['--redis'], '--redis needs a value'],
  ] as const) {
    const expected = new ConfigError(bad[1]);
    t.throws(() => parseCommandLine('import', IMPORT_OPTIONS, { config: {}, help: false, files: {}, json: false }, bad[0], {}), expected, `import ${bad[0].join(' ')}`);
    t.throws(() => parseCommandLine('replay', REPLAY_OPTIONS, { config: {}, help: false, json: false }, bad[0], {}), expected, `replay ${bad[0].join(' ')}`);
  }
});

t.test('a command reads the nodes\' environment variables for secrets, never for which cluster it changes', async (t) => {
  const env = { ATTUNE_REDIS_PASSWORD: 'from-env', ATTUNE_REDIS_URL: 'redis://elsewhere:6379', ATTUNE_SHARDS: '4' };
  for (const config of both(['--redis', 'redis://here:6379'], env)) {
    t.equal(config.redis.password, 'from-env');
    t.equal(config.redis.url, 'redis://here:6379');
    t.equal(config.cluster.shardCount, 256);
  }
  for (const config of both([], env)) t.equal(config.redis.url, null);
});

t.test('a command checks its config as attune serve does', async (t) => {
  const ca = `${t.testdir({ 'ca.pem': 'PEM' })}/ca.pem`;
  t.throws(
    () => parseCommandLine('replay', REPLAY_OPTIONS, { config: {}, help: false, json: false }, ['--redis', 'redis://here:6379', '--redis-tls-ca', ca], {}),
    new ConfigError('--redis-tls-ca needs a rediss:// URL (TLS); the URL given is redis://'),
  );
  t.throws(() => parseCommandLine('replay', REPLAY_OPTIONS, { config: {}, help: false, json: false }, ['--verbose'], {}), new ConfigError('unknown option --verbose (see attune replay --help)'));
  t.throws(() => parseCommandLine('replay', REPLAY_OPTIONS, { config: {}, help: false, json: false }, ['--json', 'extra'], {}), new ConfigError('unexpected argument "extra"'), 'a switch leaves an argument that is not true or false');
});
