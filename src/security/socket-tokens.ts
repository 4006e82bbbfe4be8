import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Socket tokens: a backend holding an API key asks for one per browser session, and the browser
 * presents it when it connects; it names the session (and the user, once known) it may act as.
 * `base64url(JSON claims) . base64url(HMAC-SHA256)`, signed with the token secret every node shares.
 */
export interface SocketTokenClaims {
  sessionId: string;
  userId?: string;
  /** Epoch seconds; the token is accepted strictly before this second. */
  expiresAt: number;
}

export type SocketTokenVerification = { ok: true; claims: SocketTokenClaims } | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' };

/** Longest token verified: anything longer is refused before any decoding or hashing. */
export const MAX_SOCKET_TOKEN_LENGTH = 2048;

/**
 * Prefixes what is signed, so that a MAC made with the same secret for any other purpose is never
 * a valid token signature; the version lets a later format be told apart.
 */
const SIGNING_CONTEXT = 'attune.socket-token.v1:';
const SIGNATURE_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Throws a RangeError for claims that verifySocketToken would refuse, so that none is ever issued. */
export function signSocketToken(secret: string, claims: SocketTokenClaims): string {
  assertSecret(secret);
  const checked = checkClaims(claims);
  if (checked === null) throw new RangeError('socket token claims need a non-empty sessionId, a non-empty userId if any, and expiresAt in whole epoch seconds');
  const payload = Buffer.from(JSON.stringify(checked), 'utf8').toString('base64url');
  const token = `${payload}.${signature(secret, payload).toString('base64url')}`;
  if (token.length > MAX_SOCKET_TOKEN_LENGTH) throw new RangeError(`socket token would be ${token.length} characters, over ${MAX_SOCKET_TOKEN_LENGTH}: shorten the sessionId or userId`);
  return token;
}

/**
 * Checks the signature before reading the payload, so that unauthenticated JSON is never parsed.
 * `token` is whatever the client sent (a socket's auth field may be anything).
 */
export function verifySocketToken(secret: string, token: unknown, nowS: number): SocketTokenVerification {
  assertSecret(secret);
  if (typeof token !== 'string' || token.length > MAX_SOCKET_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 2) return { ok: false, reason: 'malformed' };
  const [payload, presentedSignature] = parts;
  if (!isCanonicalBase64url(payload) || !isCanonicalBase64url(presentedSignature)) return { ok: false, reason: 'malformed' };
  const presented = Buffer.from(presentedSignature, 'base64url');
  const expected = signature(secret, payload);
  if (presented.length !== SIGNATURE_BYTES || !timingSafeEqual(presented, expected)) return { ok: false, reason: 'bad-signature' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const claims = checkClaims(parsed);
  if (claims === null) return { ok: false, reason: 'malformed' };
  if (nowS >= claims.expiresAt) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

/** An empty secret would make every token forgeable: a configuration bug, not a bad token. */
function assertSecret(secret: string): void {
  if (secret === '') throw new RangeError('the socket token secret is empty');
}

function signature(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(SIGNING_CONTEXT).update(payload).digest();
}

/** Only the one encoding of its bytes, so that a token has exactly one accepted spelling. */
function isCanonicalBase64url(text: string): boolean {
  return BASE64URL.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text;
}

/** The claims with exactly the expected fields and types (in a fixed order), else null. */
function checkClaims(value: unknown): SocketTokenClaims | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const fields = value as Record<string, unknown>;
  const names = Object.keys(fields);
  if (!names.every((name) => name === 'sessionId' || name === 'userId' || name === 'expiresAt')) return null;
  const { sessionId, userId, expiresAt } = fields;
  if (typeof sessionId !== 'string' || sessionId === '') return null;
  if (!('expiresAt' in fields) || typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt <= 0) return null;
  if (userId === undefined) return { sessionId, expiresAt };
  if (typeof userId !== 'string' || userId === '') return null;
  return { sessionId, userId, expiresAt };
}
