import { ConfigError, defaultConfig, type AttuneConfig, type Option } from '../config.js';
import { commandLineOnly, shared, type CommandFlags } from './args.js';
import { Pseudonyms } from '../privacy/pseudonyms.js';
import { resolveSecrets } from '../security/secrets.js';
import { configuredRedisStores } from '../store/redis/configured.js';
import type { RedisStoresOptions } from '../store/redis/index.js';

/**
 * The options of a command that works on a cluster's Redis: `attune serve`'s, so a command reads
 * and writes what the nodes do. The cluster and its shard count come from the command line only:
 * a command names the cluster it changes rather than find one in the shell's environment.
 * `redisHelp` says what the command does with it.
 */
export function redisOptions(redisHelp: string): Option<CommandFlags>[] {
  return [
    commandLineOnly(shared('redis', 'URL', redisHelp)),
    commandLineOnly(shared('redis-cluster', 'L', 'Redis Cluster seeds host:port,..., instead of --redis')),
    shared('redis-password', 'P', 'Redis password, if not in the URL'),
    shared('redis-tls-ca', 'FILE', 'PEM of the CA that signed Redis\'s certificate (rediss://)'),
    commandLineOnly(shared('shards', 'N', `the cluster's shard count (default ${defaultConfig.cluster.shardCount})`)),
    shared('encryption-keys', 'K', 'the nodes\' encryption keys, if they use them'),
  ];
}

/**
 * The stores' options from the config a command's Redis options made. Neither address given is a
 * ConfigError that says what to do instead (`otherwise`).
 */
export function redisStoresOptions(config: AttuneConfig, otherwise: string): RedisStoresOptions {
  if ((config.redis.url === null) === (config.redis.cluster.length === 0)) throw new ConfigError(`give the cluster's Redis: --redis URL or --redis-cluster host:port,... (${otherwise})`);
  return configuredRedisStores(config);
}

/** The options of a command that names users: it must map them to the nodes' pseudonyms. Development mode is asked for on the command line only. */
export const PSEUDONYM_OPTIONS: readonly Option<CommandFlags>[] = [
  shared('pseudonym-key', 'K', 'the nodes\' pseudonym key: user ids are stored as pseudonyms'),
  commandLineOnly(shared('dev', undefined, 'the nodes run in development mode (their pseudonym key is its constant)')),
];

/** The nodes' pseudonyms: their --pseudonym-key, or the development constant with --dev. */
export function pseudonymsFrom(config: AttuneConfig): Pseudonyms {
  if (config.security.pseudonymKey === null && !config.security.dev) throw new ConfigError('user ids are stored as pseudonyms: give the nodes\' --pseudonym-key (or ATTUNE_PSEUDONYM_KEY), or --dev for nodes run in development mode');
  return new Pseudonyms(resolveSecrets(config, false).pseudonymKey);
}
