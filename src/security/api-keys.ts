import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ROLE_NAMES, type ApiKeyRecord, type ApiKeyStore, type Role } from '../store/types.js';

/**
 * API keys: `atk_<id>_<secret>`. The id (12 lowercase hex characters, 48 random bits) names the
 * stored record and may be shown, logged and audited; the secret (32 random bytes, base64url) is
 * shown once at creation and only its SHA-256 is stored.
 */
export const API_KEY_PREFIX = 'atk_';

export const ROLES: readonly Role[] = Object.freeze([...ROLE_NAMES]);

/** The principal of the configured master key: every role, and an id that no stored key can have. */
export const MASTER_KEY_ID = 'master';

const KEY_ID_BYTES = 6;
const SECRET_BYTES = 32;
const KEY_ID_PATTERN = /^[0-9a-f]{12}$/;
/** 32 bytes in unpadded base64url are 43 characters; canonical form is checked separately. */
const API_KEY_PATTERN = /^atk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const MAX_NAME_LENGTH = 128;

export interface ParsedApiKey {
  id: string;
  secret: string;
}

export interface Principal {
  /** The key's id, or `master` for the configured master key. */
  keyId: string;
  roles: readonly Role[];
}

export type AuthenticationResult = { ok: true; principal: Principal } | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' | 'bad-signature' | 'expired' };

/** Whether `id` has the form of a stored key's id (what `attune keys revoke` and the admin API take). */
export function isApiKeyId(id: string): boolean {
  return KEY_ID_PATTERN.test(id);
}

/**
 * A new key and the record to store for it. The key is returned only here: callers show it once.
 * Throws a RangeError for a name or roles that parseKeyName / parseRoles would refuse.
 */
export function generateApiKey(name: string, roles: readonly Role[], now: number): { key: string; record: ApiKeyRecord } {
  const checkedName = parseKeyName(name);
  const checkedRoles = checkRoles(roles, (message) => new RangeError(message));
  const id = randomBytes(KEY_ID_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return {
    key: `${API_KEY_PREFIX}${id}_${secret}`,
    record: { id, name: checkedName, roles: checkedRoles, hash: hashSecret(secret), createdAt: now, revokedAt: null },
  };
}

/**
 * The id and secret of a well-formed key, else null. Strict: the exact prefix, a 12-character
 * lowercase hex id and a 43-character canonical base64url secret, nothing around them.
 */
export function parseApiKey(presented: string): ParsedApiKey | null {
  const match = API_KEY_PATTERN.exec(presented);
  if (match === null) return null;
  const [, id, secret] = match;
  // The last character carries 4 bits and 2 ignored ones: only the canonical spelling of the bytes is a key.
  if (Buffer.from(secret, 'base64url').toString('base64url') !== secret) return null;
  return { id, secret };
}

/** Hex SHA-256 of the secret's 32 bytes: what ApiKeyRecord.hash holds. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(Buffer.from(secret, 'base64url')).digest('hex');
}

/**
 * Roles from `ingest,recommend`-style text: comma separated, spaces around names ignored, each
 * one of ingest, recommend, privacy, admin, none twice, at least one. Throws an Error saying what is wrong.
 */
export function parseRoles(text: string): Role[] {
  const names = text.split(',').map((name) => name.trim());
  if (names.length === 1 && names[0] === '') throw new Error(`roles must name at least one of ${ROLES.join(', ')}`);
  if (names.includes('')) throw new Error(`roles ${JSON.stringify(text)} has an empty entry: separate roles with single commas`);
  return checkRoles(names, (message) => new Error(message));
}

function checkRoles(names: readonly string[], fail: (message: string) => Error): Role[] {
  if (names.length === 0) throw fail(`roles must name at least one of ${ROLES.join(', ')}`);
  const roles: Role[] = [];
  for (const name of names) {
    if (!isRole(name)) throw fail(`unknown role ${JSON.stringify(name)}: roles are ${ROLES.join(', ')}`);
    if (roles.includes(name)) throw fail(`role ${name} is given twice`);
    roles.push(name);
  }
  return roles;
}

export function isRole(name: string): name is Role {
  return (ROLES as readonly string[]).includes(name);
}

/**
 * A key's name as stored: trimmed, 1 to 128 characters, no control characters (it is printed in
 * tables and logs). Throws a RangeError saying what is wrong.
 */
export function parseKeyName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw new RangeError('a key needs a name (what or who uses it)');
  if (trimmed.length > MAX_NAME_LENGTH) throw new RangeError(`a key's name must be at most ${MAX_NAME_LENGTH} characters, got ${trimmed.length}`);
  if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) throw new RangeError("a key's name must not hold control characters");
  return trimmed;
}

/** Whether a principal with `roles` may do what needs `required`: admin implies every role. */
export function allows(roles: readonly Role[], required: Role): boolean {
  return roles.includes('admin') || roles.includes(required);
}

/**
 * The key a request presents: `Authorization: Bearer <key>` or `X-Api-Key: <key>` (Authorization
 * wins when both are sent). An Authorization header of another form is returned whole, so that it
 * authenticates as `malformed` rather than `missing`: the client did try to authenticate.
 */
export function extractPresentedKey(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const authorization = singleHeader(headers.authorization);
  if (authorization !== undefined) {
    const bearer = /^Bearer +(\S+) *$/i.exec(authorization);
    return bearer === null ? authorization : bearer[1];
  }
  const apiKey = singleHeader(headers['x-api-key']);
  return apiKey === undefined ? undefined : apiKey.trim();
}

/** A header sent several times is joined, which no key matches: it fails as `malformed`. */
function singleHeader(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  return text === '' ? undefined : text;
}

export interface ApiKeyAuthenticatorOptions {
  store: ApiKeyStore;
  /** A key with every role that is compared, not stored; null: none. */
  masterKey: string | null;
  /** How long a looked-up record (or an id found unknown) is trusted before the store is asked again. */
  cacheMs: number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
  /** Most records, and separately most unknown ids, kept. Default 10_000 each. */
  cacheMax?: number;
}

interface CachedLookup {
  /** Null: the store has no key with this id. */
  record: ApiKeyRecord | null;
  expiresAt: number;
}

/**
 * Checks presented keys against the master key and the key store, with a per-node cache so that
 * a request costs no store round trip while its key's record is fresh. A revocation made on this
 * node is seen at once through forget() (called for every `key-revoked` bus message); one made
 * where no message reaches this node, within `cacheMs`.
 *
 * authenticate() rejects (with the store's error, e.g. StoreUnavailableError) when the store
 * cannot answer for an id not in the cache: an unverifiable key is neither accepted nor reported
 * unknown.
 */
export class ApiKeyAuthenticator {
  private readonly store: ApiKeyStore;
  /** SHA-256 of the master key: equal-length digests let timingSafeEqual compare any presented text. */
  private readonly masterDigest: Buffer | null;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly knownIds: LRUCache<string, CachedLookup>;
  /**
   * Unknown ids apart from known ones, so that a flood of made-up ids cannot evict the records
   * of the keys in use (and turn every one of their requests into a store lookup).
   */
  private readonly unknownIds: LRUCache<string, CachedLookup>;
  /** One store lookup per id at a time: a burst of requests with a cold cache asks once. */
  private readonly lookups = new Map<string, Promise<ApiKeyRecord | null>>();

  constructor(options: ApiKeyAuthenticatorOptions) {
    if (!Number.isFinite(options.cacheMs) || options.cacheMs < 0) throw new RangeError(`cacheMs must be a non-negative number, got ${options.cacheMs}`);
    this.store = options.store;
    this.masterDigest = options.masterKey === null ? null : sha256(options.masterKey);
    this.cacheMs = options.cacheMs;
    this.now = options.now ?? Date.now;
    const max = options.cacheMax ?? 10_000;
    this.knownIds = new LRUCache({ max });
    this.unknownIds = new LRUCache({ max });
  }

  async authenticate(presented: string | undefined): Promise<AuthenticationResult> {
    if (presented === undefined || presented === '') return { ok: false, reason: 'missing' };
    if (this.masterDigest !== null && timingSafeEqual(sha256(presented), this.masterDigest)) {
      return { ok: true, principal: { keyId: MASTER_KEY_ID, roles: ROLES } };
    }
    const parsed = parseApiKey(presented);
    if (parsed === null) return { ok: false, reason: 'malformed' };
    const record = await this.lookup(parsed.id);
    // A wrong secret reads as an unknown key: without the secret, no one learns that an id exists.
    if (record === null || !hashMatches(record.hash, parsed.secret)) return { ok: false, reason: 'unknown' };
    if (record.revokedAt !== null) return { ok: false, reason: 'revoked' };
    return { ok: true, principal: { keyId: record.id, roles: Object.freeze([...record.roles]) } };
  }

  /**
   * The principal of a key whose holder proved possession some other way (an AWS Signature V4
   * made with a secret derived from the key's id): the record's roles, unless it is unknown or
   * revoked. Cached like authenticate().
   */
  /** The key's record as this node knows it (cached like authenticate()), or null. */
  recordOf(keyId: string): Promise<ApiKeyRecord | null> {
    return isApiKeyId(keyId) ? this.lookup(keyId) : Promise.resolve(null);
  }

  async principalOf(keyId: string): Promise<AuthenticationResult> {
    if (!isApiKeyId(keyId)) return { ok: false, reason: 'malformed' };
    const record = await this.lookup(keyId);
    if (record === null) return { ok: false, reason: 'unknown' };
    if (record.revokedAt !== null) return { ok: false, reason: 'revoked' };
    return { ok: true, principal: { keyId: record.id, roles: Object.freeze([...record.roles]) } };
  }

  /** Drops what this node holds about the key, so that its next use asks the store (a revocation). */
  forget(keyId: string): void {
    this.knownIds.delete(keyId);
    this.unknownIds.delete(keyId);
    // A lookup in flight may have read the record before the revocation: its answer is not cached.
    this.lookups.delete(keyId);
  }

  private async lookup(id: string): Promise<ApiKeyRecord | null> {
    const now = this.now();
    const cached = this.knownIds.get(id) ?? this.unknownIds.get(id);
    if (cached !== undefined && now < cached.expiresAt) return cached.record;
    const inFlight = this.lookups.get(id);
    if (inFlight !== undefined) return inFlight;
    const lookup = this.store.get(id);
    this.lookups.set(id, lookup);
    try {
      const record = await lookup;
      if (this.lookups.get(id) === lookup && this.cacheMs > 0) {
        const entry: CachedLookup = { record, expiresAt: this.now() + this.cacheMs };
        if (record === null) {
          this.knownIds.delete(id);
          this.unknownIds.set(id, entry);
        } else {
          this.unknownIds.delete(id);
          this.knownIds.set(id, entry);
        }
      }
      return record;
    } finally {
      if (this.lookups.get(id) === lookup) this.lookups.delete(id);
    }
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function hashMatches(storedHex: string, secret: string): boolean {
  const stored = Buffer.from(storedHex, 'hex');
  const presented = createHash('sha256').update(Buffer.from(secret, 'base64url')).digest();
  // A corrupt stored hash (wrong length) matches nothing, rather than throwing in timingSafeEqual.
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}
