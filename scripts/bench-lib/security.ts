import { mergeConfig } from '../../src/config.js';
import { Pseudonyms } from '../../src/privacy/pseudonyms.js';
import { resolveSecrets } from '../../src/security/secrets.js';

/**
 * How the scripts' nodes (bench, bench:cache, cluster) are secured: development mode, so sockets
 * connect with a bare sessionId and every node of one cluster makes up the same well-known token
 * secret and pseudonym key, plus a fixed master key, so the scripts' own HTTP calls (and a
 * developer's curl) can authenticate on every node alike. Never for a node anyone else reaches.
 */
export const SCRIPTS_MASTER_KEY = 'attune-local-scripts-master-key-not-a-secret';

/** The `attune serve` flags of every node a script starts. */
export const DEV_SERVE_ARGS: readonly string[] = ['--dev', '--master-key', SCRIPTS_MASTER_KEY];

/**
 * Rate limits out of the way: a benchmark offers more events per session, and more requests per
 * key, than the per-node defaults allow, and it measures latency, not the limiter.
 */
export const UNLIMITED_RATE_ARGS: readonly string[] = ['--rate-session-per-s', '1000000', '--rate-session-burst', '1000000', '--rate-key-per-s', '10000000', '--rate-key-burst', '10000000'];

/** Headers that authenticate an HTTP call to a node started with DEV_SERVE_ARGS. */
export const AUTH_HEADERS: Readonly<Record<string, string>> = { authorization: `Bearer ${SCRIPTS_MASTER_KEY}` };

/** The user-id pseudonyms of nodes started with DEV_SERVE_ARGS, for writing a user's history straight to Redis. */
export function devPseudonyms(): Pseudonyms {
  const { pseudonymKey } = resolveSecrets(mergeConfig({ security: { dev: true, masterKey: SCRIPTS_MASTER_KEY } }), true);
  return new Pseudonyms(pseudonymKey);
}
