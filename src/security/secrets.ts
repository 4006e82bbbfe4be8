import { randomBytes } from 'node:crypto';
import { ConfigError, type AttuneConfig } from '../config.js';

export interface NodeSecrets {
  /** Null when no key with every role exists in config (keys then come from the key store only). */
  masterKey: string | null;
  tokenSecret: string;
  pseudonymKey: string;
  /**
   * Derives each API key's AWS secret access key (SigV4), with the key's stored hash; null turns
   * SigV4 off. Never a well-known constant, not even in development mode: it admits as the keys do.
   */
  sigv4Root: string | null;
  /** Lines to print at start: what was made up and why that is not for production. */
  notices: string[];
}

/** Fixed in development mode, so every node of a local cluster agrees without configuration. */
const DEV_TOKEN_SECRET = 'attune-development-token-secret-do-not-use-in-production';
const DEV_PSEUDONYM_KEY = 'attune-development-pseudonym-key-do-not-use-in-production';

/**
 * The secrets a node runs with. Nodes that share Redis must agree on the token secret and the
 * pseudonym key, so outside development mode they must be configured; an embedded node (its
 * data dies with it) makes up its own. A node with no master key and no shared key store
 * would have no way to admit anybody, so the embedded mode prints a generated one.
 */
export function resolveSecrets(config: AttuneConfig, sharedStores: boolean): NodeSecrets {
  const { security } = config;
  const notices: string[] = [];
  const generated = (): string => randomBytes(32).toString('base64url');
  if (!security.dev && sharedStores) {
    const missing = [security.tokenSecret === null ? '--token-secret (ATTUNE_TOKEN_SECRET)' : null, security.pseudonymKey === null ? '--pseudonym-key (ATTUNE_PSEUDONYM_KEY)' : null].filter((m) => m !== null);
    if (missing.length > 0) throw new ConfigError(`on Redis every node needs the same ${missing.join(' and ')}; or run with --dev for development`);
  }
  let masterKey = security.masterKey;
  if (masterKey === null && (security.dev || !sharedStores)) {
    masterKey = `dev_${generated()}`;
    notices.push(`development API key (every role, this process only): ${masterKey}`);
  }
  const tokenSecret = security.tokenSecret ?? (security.dev ? DEV_TOKEN_SECRET : generated());
  const pseudonymKey = security.pseudonymKey ?? (security.dev ? DEV_PSEUDONYM_KEY : generated());
  if (security.dev) notices.push('development mode: bare sessionIds are accepted on sockets; unset secrets are well-known constants. Never expose this node.');
  const sigv4Root = security.sigv4Secret ?? (sharedStores ? null : generated());
  return { masterKey, tokenSecret, pseudonymKey, sigv4Root, notices };
}
