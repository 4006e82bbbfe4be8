import { readFileSync } from 'node:fs';
import { defaultConfig, loadConfig } from '../config.js';
import { UsageError, positiveNumber, type ParsedFlags } from './args.js';
import { Pseudonyms } from '../privacy/pseudonyms.js';
import { createPayloadCipher } from '../store/payload-cipher.js';
import { resolveSecrets } from '../security/secrets.js';
import type { RedisStoresOptions } from '../store/redis/index.js';

/** The flags a command that works on a cluster's Redis takes. */
export const REDIS_FLAGS = ['redis', 'redis-cluster', 'redis-password', 'redis-tls-ca', 'shards', 'encryption-keys'] as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The stores' options from --redis URL | --redis-cluster host:port,..., --redis-password,
 * --redis-tls-ca, --shards and --encryption-keys (or their environment variables, as for
 * `attune serve`, so a command reads and writes what the nodes do). Neither address given is a
 * UsageError that says what to do instead (`otherwise`).
 */
export function redisStoresOptions(flags: ParsedFlags, otherwise: string, env: Env = process.env): RedisStoresOptions {
  const url = flags.values.get('redis');
  const cluster = flags.values.get('redis-cluster');
  if ((url === undefined) === (cluster === undefined)) throw new UsageError(`give the cluster's Redis: --redis URL or --redis-cluster host:port,... (${otherwise})`);
  const password = flags.values.get('redis-password') ?? env.ATTUNE_REDIS_PASSWORD;
  const caFile = flags.values.get('redis-tls-ca') ?? env.ATTUNE_REDIS_TLS_CA;
  const tlsCa = caFile === undefined ? undefined : readPem(caFile, '--redis-tls-ca');
  if (tlsCa !== undefined && url?.startsWith('redis://') === true) throw new UsageError('--redis-tls-ca needs a rediss:// URL (TLS); the URL given is redis://');
  const encryptionKeys = flags.values.get('encryption-keys') ?? env.ATTUNE_ENCRYPTION_KEYS;
  const cipher = encryptionKeys === undefined ? null : createPayloadCipher(loadConfig(['--encryption-keys', encryptionKeys], {}).security.encryptionKeys);
  return {
    ...(cluster !== undefined ? { cluster: cluster.split(',').map((seed) => seed.trim()) } : { url }),
    ...(password === undefined ? {} : { password }),
    // Cluster seeds carry no rediss:// to say so: a CA means TLS.
    ...(tlsCa === undefined ? {} : { tlsCa, ...(cluster !== undefined ? { tls: true } : {}) }),
    ...(cipher === null ? {} : { cipher }),
    shardCount: positiveNumber(flags, 'shards') ?? defaultConfig.cluster.shardCount,
  };
}

function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The flags a command that names users takes: it must map them to the nodes' pseudonyms. */
export const PSEUDONYM_FLAGS = { values: ['pseudonym-key'], booleans: ['dev'] } as const;

/** The nodes' pseudonyms: --pseudonym-key or ATTUNE_PSEUDONYM_KEY, or the development constant with --dev. */
export function pseudonymsFrom(flags: ParsedFlags, env: Env = process.env): Pseudonyms {
  const key = flags.values.get('pseudonym-key') ?? env.ATTUNE_PSEUDONYM_KEY;
  const dev = flags.booleans.has('dev');
  if (key === undefined && !dev) throw new UsageError('user ids are stored as pseudonyms: give the nodes\' --pseudonym-key (or ATTUNE_PSEUDONYM_KEY), or --dev for nodes run in development mode');
  const argv = key === undefined ? ['--dev'] : ['--pseudonym-key', key, ...(dev ? ['--dev'] : [])];
  return new Pseudonyms(resolveSecrets(loadConfig(argv, {}), false).pseudonymKey);
}
