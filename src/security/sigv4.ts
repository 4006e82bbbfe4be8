import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isApiKeyId } from './api-keys.js';

/**
 * AWS Signature Version 4 for Attune's API keys, so that the official AWS SDK Personalize clients
 * (pointed at Attune with an endpoint override) can call it.
 *
 * A key `atk_<id>_<secret>` has SigV4 credentials derived from its id and a server secret (`root`):
 * the access key id is `ATK<ID>` and the secret access key an HMAC of the id under root, so the
 * server can recompute the secret of any key without storing it (only a hash of the API key's own
 * secret is stored, which SigV4 cannot use). The derived secret does not depend on the key's
 * secret: whoever verifies must still check that the key exists and is not revoked, and the only
 * way to change the SigV4 secret of a key is a new key (or a new root, which changes them all).
 *
 * Only header-based SigV4 (`Authorization: AWS4-HMAC-SHA256 ...`) is accepted: no presigned
 * query-string requests, no session tokens, no unsigned payloads, no SigV4a.
 */

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** What every Attune access key id starts with: `ATK` and the key's id in upper case (15 characters). */
export const ACCESS_KEY_PREFIX = 'ATK';
export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

const ACCESS_KEY_PATTERN = /^ATK([0-9A-F]{12})$/;
const SECRET_DERIVATION_LABEL = 'attune-sigv4:';
const SECRET_LENGTH = 40;
const SCOPE_TERMINATOR = 'aws4_request';

/** What an AWS SDK takes as `credentials`. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * The SigV4 credentials of the API key with id `keyId` (12 lowercase hex characters, the `<id>` of
 * `atk_<id>_<secret>`): access key id `ATK` + the id in upper case, secret access key the first 40
 * characters of the base64 of HMAC-SHA256(root, `attune-sigv4:<id>`) (240 bits; only [A-Za-z0-9+/],
 * like AWS's secrets). Throws a RangeError for an id of another form or an empty root.
 */
export function awsCredentialsFor(keyId: string, root: string): AwsCredentials {
  if (!isApiKeyId(keyId)) throw new RangeError(`not an API key id: ${JSON.stringify(keyId)} (12 lowercase hex characters)`);
  if (root === '') throw new RangeError('the SigV4 root secret must not be empty');
  const secretAccessKey = createHmac('sha256', root)
    .update(SECRET_DERIVATION_LABEL + keyId, 'utf8')
    .digest('base64')
    .slice(0, SECRET_LENGTH);
  return { accessKeyId: ACCESS_KEY_PREFIX + keyId.toUpperCase(), secretAccessKey };
}

/** The API key id an access key id names (`ATK` + 12 upper-case hex characters, nothing else), else null. */
export function keyIdOfAccessKey(accessKeyId: string): string | null {
  const match = ACCESS_KEY_PATTERN.exec(accessKeyId);
  return match === null ? null : match[1].toLowerCase();
}

export interface SigV4Request {
  /** As on the request line (node gives it upper case). */
  method: string;
  /** The path as on the request line, before any `?`: still percent-encoded, not normalised. */
  rawPath: string;
  /** What follows the `?` on the request line (without any `#fragment`); '' when there is none. */
  rawQuery: string;
  /** As node's IncomingMessage.headers (names lower case; names in other cases are folded here). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body's bytes exactly as received. */
  body: Uint8Array;
}

export interface SigV4Options {
  /**
   * The secret access key of an access key id, or null when there is none (an unknown or revoked
   * key). A rejection is passed on: a key that cannot be checked is neither accepted nor refused.
   */
  secretFor: (accessKeyId: string) => Promise<string | null>;
  /** The signing name the credential scope must carry: `personalize` for both Personalize clients. */
  service: string;
  /** Epoch ms. */
  nowMs: number;
  /** How far x-amz-date may be from nowMs, either way. Default 5 minutes. */
  maxSkewMs?: number;
}

/**
 * Why a request is refused.
 * - missing: no Authorization header (and so no attempt to authenticate).
 * - malformed: an Authorization header that is not well-formed AWS4-HMAC-SHA256 header auth, a
 *   missing or ill-formed x-amz-date, a credential scope whose date is not x-amz-date's day,
 *   signed headers that leave out host or x-amz-date, a path that does not start with `/`, a query
 *   that cannot be decoded, holds a `+` or an empty parameter, or holds X-Amz-Signature.
 * - unknown-key: secretFor knows no secret for the access key id, or the request carries a session
 *   token (x-amz-security-token), which no Attune credentials have.
 * - bad-signature: the signature does not match, a signed header is absent, or x-amz-content-sha256
 *   is not the body's SHA-256 (UNSIGNED-PAYLOAD included).
 * - expired: x-amz-date further than maxSkewMs from now.
 * - wrong-service: the credential scope names another service.
 */
export type SigV4FailureReason = 'missing' | 'malformed' | 'unknown-key' | 'bad-signature' | 'expired' | 'wrong-service';

export type SigV4Result =
  | {
      ok: true;
      accessKeyId: string;
      /** The credential scope's region: any is accepted. */
      region: string;
      /** Lower-case names of the headers the signature covers (sorted): only these are authenticated. */
      signedHeaders: readonly string[];
    }
  | { ok: false; reason: SigV4FailureReason };

interface ParsedAuthorization {
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const AUTHORIZATION_PATTERN = /^AWS4-HMAC-SHA256 +(\S.*)$/;
const ACCESS_KEY_ID_PATTERN = /^[A-Za-z0-9]{1,128}$/;
const SCOPE_DATE_PATTERN = /^\d{8}$/;
const SCOPE_PART_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** A lower-case HTTP header name (RFC 9110 token). */
const HEADER_NAME_PATTERN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;
const AMZ_DATE_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * Verifies an AWS SigV4 header-signed request, as @smithy/signature-v4 (the AWS SDK for
 * JavaScript v3 signer) signs it: the canonical request over method, canonical URI (the raw path,
 * URI-encoded once more with `/` kept, as for every service but S3), canonical query (decoded and
 * re-encoded per RFC 3986, sorted), the signed headers (lower-case names, values trimmed with
 * runs of spaces and tabs collapsed) and the body's SHA-256; then the string to sign under the
 * credential scope, the derived signing key and a constant-time comparison.
 *
 * Cheap checks come first: secretFor is called only for a well-formed, fresh request to the right
 * service. Resolves with the reason a request is refused; rejects only when secretFor does.
 */
export async function verifySigV4(request: SigV4Request, options: SigV4Options): Promise<SigV4Result> {
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (!Number.isFinite(maxSkewMs) || maxSkewMs < 0) throw new RangeError(`maxSkewMs must be a non-negative number, got ${maxSkewMs}`);
  const headers = foldHeaders(request.headers);

  const authorizationValues = headers.get('authorization');
  if (authorizationValues === undefined || (authorizationValues.length === 1 && authorizationValues[0] === '')) return fail('missing');
  if (authorizationValues.length !== 1) return fail('malformed');
  const authorization = parseAuthorization(authorizationValues[0]);
  if (authorization === null) return fail('malformed');

  const amzDateText = singleValue(headers, 'x-amz-date');
  if (amzDateText === null) return fail('malformed');
  const amzDateMs = parseAmzDate(amzDateText);
  if (amzDateMs === null || amzDateText.slice(0, 8) !== authorization.scopeDate) return fail('malformed');

  const canonicalUri = canonicalPath(request.rawPath);
  if (canonicalUri === null) return fail('malformed');
  const canonicalQueryString = canonicalQuery(request.rawQuery);
  if (canonicalQueryString === null) return fail('malformed');

  if (authorization.service !== options.service) return fail('wrong-service');
  if (Math.abs(options.nowMs - amzDateMs) > maxSkewMs) return fail('expired');
  if (headers.has('x-amz-security-token')) return fail('unknown-key');

  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  const contentSha256 = headers.get('x-amz-content-sha256');
  if (contentSha256 !== undefined && (contentSha256.length !== 1 || contentSha256[0] !== bodyHash)) return fail('bad-signature');

  const canonicalHeaderLines: string[] = [];
  for (const name of authorization.signedHeaders) {
    const values = headers.get(name);
    if (values === undefined) return fail('bad-signature');
    canonicalHeaderLines.push(`${name}:${canonicalHeaderValue(values.join(','))}`);
  }

  const secret = await options.secretFor(authorization.accessKeyId);
  if (secret === null) return fail('unknown-key');

  const canonicalRequest = [
    request.method,
    canonicalUri,
    canonicalQueryString,
    canonicalHeaderLines.join('\n'),
    '',
    authorization.signedHeaders.join(';'),
    bodyHash,
  ].join('\n');
  const scope = `${authorization.scopeDate}/${authorization.region}/${authorization.service}/${SCOPE_TERMINATOR}`;
  const stringToSign = [SIGV4_ALGORITHM, amzDateText, scope, createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join('\n');
  let key: Buffer = hmac(`AWS4${secret}`, authorization.scopeDate);
  for (const part of [authorization.region, authorization.service, SCOPE_TERMINATOR]) key = hmac(key, part);
  const expected = Buffer.from(hmac(key, stringToSign).toString('hex'), 'latin1');
  const presented = Buffer.from(authorization.signature, 'latin1');
  if (!timingSafeEqual(expected, presented)) return fail('bad-signature');
  return { ok: true, accessKeyId: authorization.accessKeyId, region: authorization.region, signedHeaders: authorization.signedHeaders };
}

function fail(reason: SigV4FailureReason): SigV4Result {
  return { ok: false, reason };
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * `Credential=AKID/YYYYMMDD/region/service/aws4_request, SignedHeaders=a;b, Signature=<hex>`, the
 * three in any order, each once, separated by commas with optional spaces; else null.
 */
function parseAuthorization(header: string): ParsedAuthorization | null {
  const match = AUTHORIZATION_PATTERN.exec(header.trim());
  if (match === null) return null;
  const fields = new Map<string, string>();
  for (const part of match[1].split(',')) {
    const field = /^ *(Credential|SignedHeaders|Signature)=(\S+) *$/.exec(part);
    if (field === null || fields.has(field[1])) return null;
    fields.set(field[1], field[2]);
  }
  const credential = fields.get('Credential');
  const signedHeadersText = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeadersText === undefined || signature === undefined) return null;

  const scope = credential.split('/');
  if (scope.length !== 5) return null;
  const [accessKeyId, scopeDate, region, service, terminator] = scope;
  if (!ACCESS_KEY_ID_PATTERN.test(accessKeyId) || !SCOPE_DATE_PATTERN.test(scopeDate)) return null;
  if (!SCOPE_PART_PATTERN.test(region) || !SCOPE_PART_PATTERN.test(service) || terminator !== SCOPE_TERMINATOR) return null;

  const signedHeaders = signedHeadersText.split(';');
  for (let i = 0; i < signedHeaders.length; i++) {
    if (!HEADER_NAME_PATTERN.test(signedHeaders[i])) return null;
    // Sorted and without repeats, as the canonical request lists them.
    if (i > 0 && signedHeaders[i - 1] >= signedHeaders[i]) return null;
  }
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date') || signedHeaders.includes('authorization')) return null;

  if (!SIGNATURE_PATTERN.test(signature)) return null;
  return { accessKeyId, scopeDate, region, service, signedHeaders, signature };
}

/** Epoch ms of a `YYYYMMDDTHHMMSSZ` date that names a real instant, else null. */
function parseAmzDate(text: string): number | null {
  const match = AMZ_DATE_PATTERN.exec(text);
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(ms);
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    return null;
  }
  return ms;
}

/** Header values by lower-case name; a name given in several cases gathers all its values. */
function foldHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Map<string, string[]> {
  const folded = new Map<string, string[]>();
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const values = folded.get(lower) ?? [];
    if (Array.isArray(value)) values.push(...value);
    else values.push(value);
    folded.set(lower, values);
  }
  return folded;
}

function singleValue(headers: Map<string, string[]>, name: string): string | null {
  const values = headers.get(name);
  return values === undefined || values.length !== 1 ? null : values[0];
}

/** As @smithy/signature-v4: line breaks become spaces, runs of spaces and tabs one space, one space trimmed each end. */
function canonicalHeaderValue(value: string): string {
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/** RFC 3986 encoding: encodeURIComponent and also !'()*. Null for text that cannot be encoded (lone surrogates). */
function escapeUri(text: string): string | null {
  try {
    return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    return null;
  }
}

/**
 * The canonical URI of a raw path, exactly as @smithy/signature-v4 computes it for every service
 * but S3: empty, `.` and `..` segments dropped (a trailing `/` kept), then the path as sent
 * (already percent-encoded by the SDK) encoded once more, with `/` kept. The SDK does send such
 * paths: an endpoint `http://host/base/` gives `/base//events`, signed as `/base/events`. So one
 * signature covers every raw path with the same normal form: route on the raw path (where `//`
 * or `..` finds no route) or on this normal form, never on a looser one. Null (refused) for a
 * path that does not start with `/` or cannot be encoded.
 */
function canonicalPath(rawPath: string): string | null {
  if (!rawPath.startsWith('/')) return null;
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `/${segments.join('/')}${segments.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  const escaped = escapeUri(normalized);
  return escaped === null ? null : escaped.replace(/%2F/g, '/');
}

/**
 * The canonical query string of a raw query: each name and value percent-decoded and re-encoded
 * per RFC 3986, `name=value` (a name without `=` has the empty value), sorted by name and then
 * value. Null (refused) for an empty parameter or name, a `+` (a space to form decoders, a plus to
 * RFC 3986: AWS SDKs encode both), a bad escape, or X-Amz-Signature (no presigned requests).
 */
function canonicalQuery(rawQuery: string): string | null {
  if (rawQuery === '') return '';
  if (rawQuery.includes('+')) return null;
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    const equals = part.indexOf('=');
    const rawName = equals === -1 ? part : part.slice(0, equals);
    const rawValue = equals === -1 ? '' : part.slice(equals + 1);
    if (rawName === '') return null;
    const name = reencode(rawName);
    const value = reencode(rawValue);
    if (name === null || value === null) return null;
    if (name.toLowerCase() === 'x-amz-signature') return null;
    pairs.push([name, value]);
  }
  pairs.sort(([nameA, valueA], [nameB, valueB]) => compare(nameA, nameB) || compare(valueA, valueB));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

function reencode(raw: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return null;
  }
  return escapeUri(decoded);
}

/** Code-unit order; the strings compared are ASCII, so this is byte order. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
