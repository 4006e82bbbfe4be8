import type { TokenGrant } from './types.js';

/** A token and when this client should stop relying on it. */
export interface HeldToken {
  token: string;
  /** Epoch ms at which the server stops accepting it; null when unknown (a token we could not read). */
  expiresAtMs: number | null;
  /** Epoch ms at which it was fetched (by this client's clock). */
  fetchedAtMs: number;
}

/** The most a refresh comes ahead of the expiry. */
const MAX_REFRESH_AHEAD_MS = 60_000;
/** Share of a token's lifetime left when it is refreshed, for lifetimes under five minutes. */
const REFRESH_AHEAD_SHARE = 0.2;

/**
 * What getToken returned, as a held token: POST /v1/tokens's body `{token, expiresAt}` (epoch
 * seconds), or the token alone, whose expiry is then read from its claims (the part before the
 * dot is base64url JSON with `expiresAt`). Null for anything else.
 */
export function holdToken(value: unknown, nowMs: number): HeldToken | null {
  if (typeof value === 'string' && value !== '') return { token: value, expiresAtMs: claimedExpiryMs(value), fetchedAtMs: nowMs };
  if (typeof value !== 'object' || value === null) return null;
  const grant = value as Partial<TokenGrant>;
  if (typeof grant.token !== 'string' || grant.token === '') return null;
  const expiresAtMs = typeof grant.expiresAt === 'number' && Number.isFinite(grant.expiresAt) ? grant.expiresAt * 1000 : claimedExpiryMs(grant.token);
  return { token: grant.token, expiresAtMs, fetchedAtMs: nowMs };
}

function claimedExpiryMs(token: string): number | null {
  try {
    const payload = token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const claims: unknown = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')));
    const expiresAt = (claims as { expiresAt?: unknown }).expiresAt;
    return typeof expiresAt === 'number' && Number.isFinite(expiresAt) ? expiresAt * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * Epoch ms at which to fetch the next token: a fifth of the lifetime before the expiry, at most a
 * minute before it (a one-hour token is refreshed at 59 minutes, a 10 s one at 8 s). Null when the
 * expiry is unknown, or when it was already past when fetched by this client's clock (a clock
 * running ahead of the server's): such a token is then refreshed on each connect only.
 */
export function refreshAtMs(held: HeldToken): number | null {
  if (held.expiresAtMs === null) return null;
  const lifetime = held.expiresAtMs - held.fetchedAtMs;
  if (lifetime <= 0) return null;
  return held.expiresAtMs - Math.min(MAX_REFRESH_AHEAD_MS, lifetime * REFRESH_AHEAD_SHARE);
}

/** Whether to fetch a new token before connecting with this one. */
export function needsRefresh(held: HeldToken | null, nowMs: number): boolean {
  if (held === null) return true;
  const at = refreshAtMs(held);
  return held.expiresAtMs !== null && (at === null || nowMs >= at);
}
