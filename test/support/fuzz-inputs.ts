/**
 * Generators of malformed input for test/transport/fuzz.test.ts: a seeded PRNG, random JSON,
 * HTTP requests (well-formed at the HTTP level, for fetch), raw HTTP bytes (for node:net),
 * socket.io messages and raw WebSocket frames, plus the parsers the test reads answers with.
 * Everything is driven by `Rng`, so a seed and a case index name one input exactly.
 */
import { DEMO_CATEGORIES, demoCatalog } from '../../src/demo/catalog.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** 0 <= n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }

  /** lo <= n <= hi */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  weighted<T>(entries: ReadonlyArray<readonly [number, T]>): T {
    const total = entries.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, value] of entries) {
      r -= w;
      if (r < 0) return value;
    }
    return entries[entries.length - 1][1];
  }

  /** A child generator: its own sequence, so phases running side by side stay reproducible. */
  fork(salt: number): Rng {
    return new Rng((Math.imul(this.int(0x7fffffff) ^ salt, 0x9e3779b1) >>> 0) || 1);
  }
}

export const DEMO_ITEMS: readonly string[] = demoCatalog().map((i) => i.itemId);
export const EVENT_TYPES = ['view', 'click', 'add-to-cart', 'purchase', 'rate'] as const;

// ---------------------------------------------------------------------------------------------
// Random values

const ODD_STRINGS: readonly string[] = [
  '', ' ', '\u0000', '\n', '\r\n', '\t', '\u0007', '\ud800', '\udfff', '\ud83d', '💥', '\u202e', '\ufeff', 'Ω≈ç√∫', '日本語',
  'null', 'undefined', 'true', 'false', '0', '-0', '-1', '1e309', 'NaN', 'Infinity', '[]', '{}', '""',
  '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf',
  '../../etc/passwd', '..', '.', '/', '%00', '%', '%zz', '%E0%A4%A', '<script>alert(1)</script>', "'; DROP TABLE x;--", '${x}', '{{x}}',
  's:', 'u:', '|', '*', '?', '#', '&', '=', ',', ',,,', 'a,b,,c', 'view', 'purchase', 'books-001',
];

export function randomString(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
    case 1:
      return rng.pick(ODD_STRINGS);
    case 2: {
      const n = rng.range(0, 40);
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(rng.range(0x20, 0x7e));
      return s;
    }
    case 3: {
      // Any code unit, lone surrogates and controls included.
      const n = rng.range(1, 24);
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.2) ? rng.range(0, 0x1f) : rng.range(0, 0xffff));
      return s;
    }
    case 4:
      return rng.pick(['a', 'é', '💥', 'x ', '\u0000']).repeat(rng.pick([63, 64, 65, 128, 255, 256, 257, 1024, 1025, 4096, 4097]));
    default:
      return `fz-${rng.int(1e6)}`;
  }
}

const ODD_NUMBERS: readonly number[] = [0, -0, 1, -1, 0.5, -0.5, 2 ** 31, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 1e-7, 499, 500, 501, 1000, 1001, 9, 10, 11];

export function randomNumber(rng: Rng): number {
  return rng.chance(0.6) ? rng.pick(ODD_NUMBERS) : (rng.next() - 0.5) * 10 ** rng.range(0, 20);
}

export function randomJson(rng: Rng, depth = 0): Json {
  const kind = rng.int(depth > 3 ? 4 : 6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return randomNumber(rng);
    case 3:
      return randomString(rng);
    case 4:
      return Array.from({ length: rng.range(0, 4) }, () => randomJson(rng, depth + 1));
    default: {
      const out: JsonObject = {};
      for (let i = rng.range(0, 4); i > 0; i--) out[randomKey(rng)] = randomJson(rng, depth + 1);
      return out;
    }
  }
}

function randomKey(rng: Rng): string {
  const key = rng.chance(0.5) ? rng.pick(['a', 'x', 'itemId', 'eventType', 'sessionId', 'userId', 'eventList', 'items', 'extra', '', ' ', '0', '$ref', 'toString', 'valueOf']) : randomString(rng).slice(0, 40);
  // Prototype keys go through the text-level injection, where they really are own keys.
  return key === '__proto__' ? '__proto' : key;
}

function typeOf(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** A value of another JSON type than `original`. */
export function wrongTyped(rng: Rng, original: Json): Json {
  for (;;) {
    const candidate = randomJson(rng, 2);
    if (typeOf(candidate) !== typeOf(original)) return candidate;
  }
}

export function cloneJson<T extends Json>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

type JsonPath = Array<string | number>;

/** Every path to a value inside `root` (root itself excluded). */
export function jsonPaths(root: Json, prefix: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  if (Array.isArray(root)) {
    root.forEach((v, i) => {
      out.push([...prefix, i]);
      jsonPaths(v, [...prefix, i], out);
    });
  } else if (root !== null && typeof root === 'object') {
    for (const [k, v] of Object.entries(root)) {
      out.push([...prefix, k]);
      jsonPaths(v, [...prefix, k], out);
    }
  }
  return out;
}

/** Paths to the objects inside `root`, root included (as []). */
function objectPaths(root: Json): JsonPath[] {
  const paths: JsonPath[] = [[]];
  for (const path of jsonPaths(root)) {
    const v = getAt(root, path);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) paths.push(path);
  }
  return paths;
}

function getAt(root: Json, path: JsonPath): Json {
  let v: Json = root;
  for (const step of path) v = (v as Record<string | number, Json>)[step];
  return v;
}

function setAt(root: Json, path: JsonPath, value: Json | undefined): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, Json>;
  const last = path[path.length - 1];
  if (value === undefined) {
    if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
    else delete parent[last];
  } else parent[last] = value;
}

// ---------------------------------------------------------------------------------------------
// Ids: fuzz traffic never names a pre-run session or user except where a case says so

export interface FuzzIds {
  /** Sessions and users the fuzz run may write to freely. */
  session(): string;
  user(): string;
  item(): string;
  /** Pre-run sessions and users: only invalid requests (and the tracked valid ones) name them. */
  protectedSessions: readonly string[];
  protectedUsers: readonly string[];
}

export function fuzzIds(rng: Rng, protectedSessions: readonly string[], protectedUsers: readonly string[]): FuzzIds {
  return {
    session: () => `fz-s-${rng.int(400)}`,
    user: () => `fz-u-${rng.int(200)}`,
    item: () => (rng.chance(0.8) ? rng.pick(DEMO_ITEMS) : `fz-item-${rng.int(50)}`),
    protectedSessions,
    protectedUsers,
  };
}

/**
 * sentAt strings that are neither epoch ms nor ISO-8601, but that V8's Date.parse reads as a
 * time anyway ("-1", "1", "x 1" and " 1 " as 2001-01-01, "99" as 1999-01-01).
 */
export const NON_ISO_SENT_AT: readonly string[] = ['-1', '1', 'x 1', ' 1 ', '99'];

export function validEvent(rng: Rng, ids: FuzzIds): JsonObject {
  const event: JsonObject = { eventType: rng.pick(EVENT_TYPES), itemId: ids.item() };
  if (rng.chance(0.3)) event.eventValue = rng.range(1, 5);
  if (rng.chance(0.3)) event.properties = { source: 'fuzz', n: rng.int(100), tags: ['a', 'b'] };
  if (rng.chance(0.3)) event.sentAt = rng.chance(0.5) ? Date.now() - rng.int(60_000) : new Date(Date.now() - rng.int(60_000)).toISOString();
  return event;
}

/**
 * An event the server must refuse, whatever else is around it: each variant breaks the event
 * schema (or the sentAt check ingestion makes before anything is written).
 */
export function invalidEvent(rng: Rng, ids: FuzzIds): Json {
  const event = validEvent(rng, ids);
  const nonString = (): Json => rng.pick<Json>([null, 1, 0, true, [], {}, ['view'], { a: 'b' }, -1.5]);
  switch (rng.int(16)) {
    case 0:
      delete event.eventType;
      return event;
    case 1:
      delete event.itemId;
      return event;
    case 2:
      event.eventType = rng.chance(0.5) ? nonString() : rng.pick(['', 'a b', 'view!', 'x'.repeat(65), 'vi\u0000ew', 'ü', 'view\n']);
      return event;
    case 3:
      event.itemId = rng.chance(0.5) ? nonString() : rng.pick(['', 'x'.repeat(257)]);
      return event;
    case 4:
      event[rng.pick(['extra', 'sessionId', 'userId', 'eventTyp', 'ItemId', 'kind', 'receivedAt'])] = randomJson(rng);
      return event;
    case 5:
      event.properties = rng.pick<Json>([[], 'props', 5, true, [{ a: 1 }]]);
      return event;
    case 6: {
      // Own prototype keys, as JSON.parse makes them.
      const key = rng.pick(['__proto__', 'constructor', 'prototype']);
      const nested = rng.chance(0.5);
      event.properties = JSON.parse(nested ? `{"ok":1,"inner":{"${key}":{"polluted":true}}}` : `{"${key}":{"polluted":true}}`) as JsonObject;
      return event;
    }
    case 7: {
      let deep: Json = 1;
      for (let i = 0; i < rng.range(17, 40); i++) deep = rng.chance(0.5) ? [deep] : { d: deep };
      event.properties = { deep };
      return event;
    }
    case 8:
      event.properties = { big: 'p'.repeat(rng.range(1025, 4000)) };
      return event;
    case 9:
      event.eventValue = rng.pick<Json>(['5', null, true, [], {}, '1e309', 'NaN']);
      return event;
    case 10:
      event.sentAt = rng.pick<Json>([-1, -1e-9, -Number.MAX_VALUE, '', 'x'.repeat(65), null, true, [], {}]);
      return event;
    case 11:
      // Valid for the schema, refused by ingestion before any write: not epoch ms, not ISO-8601.
      event.sentAt = rng.chance(0.75) ? rng.pick(['yesterday', 'not a date', '2026-13-45', '∞', 'NaN', 'T']) : rng.pick(NON_ISO_SENT_AT);
      return event;
    case 12:
      event.eventId = rng.pick<Json>([1, null, {}, 'e'.repeat(257)]);
      return event;
    case 13:
      return rng.pick<Json>([null, 'view', 42, true, [], [event], ['view', 'books-001']]);
    case 14:
      return {};
    default:
      event.itemId = 'i'.repeat(rng.range(257, 2000));
      return event;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP routes and their well-formed requests

export type Access = 'public' | 'ingest' | 'recommend' | 'privacy' | 'admin';

export interface RouteTemplate {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  access: Access;
  path(rng: Rng, ids: FuzzIds): string;
  query?(rng: Rng, ids: FuzzIds): Record<string, string>;
  body?(rng: Rng, ids: FuzzIds): JsonObject;
  /** Fields holding numbers, for the number-text cases. */
  numericFields?: JsonPath[];
}

const enc = (s: string): string => {
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate: its UTF-8-ish bytes, which no decoder accepts.
    return '%ED%A0%80';
  }
};

const listQuery = (rng: Rng, ids: FuzzIds): Record<string, string> => {
  const q: Record<string, string> = {};
  if (rng.chance(0.7)) q.sessionId = ids.session();
  else q.userId = ids.user();
  if (rng.chance(0.5)) q.numResults = String(rng.range(1, 50));
  if (rng.chance(0.2)) q.category = rng.pick(DEMO_CATEGORIES);
  if (rng.chance(0.2)) q.excludeSeen = String(rng.chance(0.5));
  return q;
};

export const ROUTES: readonly RouteTemplate[] = [
  {
    name: 'events',
    method: 'POST',
    access: 'ingest',
    path: () => '/v1/events',
    body: (rng, ids) => ({ sessionId: ids.session(), ...(rng.chance(0.3) ? { userId: ids.user() } : {}), eventList: Array.from({ length: rng.range(1, 3) }, () => validEvent(rng, ids)) }),
    numericFields: [['eventList', 0, 'eventValue'], ['eventList', 0, 'sentAt']],
  },
  {
    name: 'items-put',
    method: 'PUT',
    access: 'ingest',
    path: () => '/v1/items',
    body: (rng) => ({ items: [{ itemId: `fz-item-${rng.int(50)}`, title: 'Fuzz item', category: rng.pick(DEMO_CATEGORIES), price: rng.range(1, 100), inStock: rng.chance(0.8) }] }),
    numericFields: [['items', 0, 'price']],
  },
  { name: 'items-get', method: 'GET', access: 'recommend', path: () => '/v1/items', query: (rng) => ({ limit: String(rng.range(1, 50)), offset: String(rng.int(300)) }) },
  { name: 'recommendations', method: 'GET', access: 'recommend', path: () => '/v1/recommendations', query: listQuery },
  { name: 'related', method: 'GET', access: 'recommend', path: (rng) => `/v1/items/${enc(rng.pick(DEMO_ITEMS))}/related`, query: (rng, ids) => (rng.chance(0.5) ? listQuery(rng, ids) : {}) },
  {
    name: 'ranking',
    method: 'POST',
    access: 'recommend',
    path: () => '/v1/personalize-ranking',
    body: (rng, ids) => ({ sessionId: ids.session(), inputList: Array.from({ length: rng.range(1, 8) }, () => rng.pick(DEMO_ITEMS)), numResults: rng.range(1, 8), filter: { excludeSeen: rng.chance(0.5) } }),
    numericFields: [['numResults']],
  },
  { name: 'popular', method: 'GET', access: 'recommend', path: () => '/v1/popular', query: (rng) => ({ numResults: String(rng.range(1, 50)) }) },
  { name: 'trending', method: 'GET', access: 'recommend', path: () => '/v1/trending', query: (rng): Record<string, string> => (rng.chance(0.5) ? { category: rng.pick(DEMO_CATEGORIES) } : {}) },
  { name: 'segments', method: 'GET', access: 'recommend', path: () => '/v1/segments' },
  { name: 'user-segment', method: 'GET', access: 'recommend', path: (_rng, ids) => `/v1/users/${enc(ids.user())}/segment` },
  { name: 'healthz', method: 'GET', access: 'public', path: () => '/healthz' },
  { name: 'readyz', method: 'GET', access: 'public', path: () => '/readyz' },
  { name: 'metrics', method: 'GET', access: 'public', path: () => '/metrics' },
  { name: 'demo-items', method: 'GET', access: 'public', path: () => '/demo/items' },
  { name: 'web', method: 'GET', access: 'public', path: (rng) => rng.pick(['/', '/app.js', '/style.css', '/replay.html', '/replay.js']) },
  { name: 'model-get', method: 'GET', access: 'admin', path: () => '/v1/admin/model' },
  { name: 'model-swap', method: 'POST', access: 'admin', path: () => '/v1/admin/model', body: (rng) => ({ dir: `fz-no-such-model-${rng.int(100)}` }) },
  { name: 'replay', method: 'GET', access: 'admin', path: () => '/v1/admin/replay', query: (rng, ids): Record<string, string> => (rng.chance(0.8) ? { sessionId: ids.session() } : { userId: ids.user() }) },
  { name: 'online-metrics', method: 'GET', access: 'admin', path: () => '/v1/admin/online-metrics', query: (rng): Record<string, string> => (rng.chance(0.5) ? { since: String(rng.int(2_000_000_000_000)) } : { since: new Date(rng.int(2_000_000_000_000)).toISOString() }) },
  { name: 'import-start', method: 'POST', access: 'admin', path: () => '/v1/import-jobs', body: (rng) => ({ interactions: `fz-missing-${rng.int(100)}.csv` }) },
  { name: 'import-list', method: 'GET', access: 'admin', path: () => '/v1/import-jobs' },
  { name: 'import-get', method: 'GET', access: 'admin', path: (rng) => `/v1/import-jobs/fz-job-${rng.int(100)}` },
  { name: 'cache-invalidate', method: 'POST', access: 'admin', path: () => '/v1/admin/cache/invalidate', body: (rng) => ({ cache: rng.pick(['recommendations', 'related']), prefix: 'fz-' }) },
  {
    name: 'tokens',
    method: 'POST',
    access: 'ingest',
    path: () => '/v1/tokens',
    body: (rng, ids) => ({ sessionId: ids.session(), ...(rng.chance(0.5) ? { userId: ids.user() } : {}), ttlSeconds: rng.range(10, 3600) }),
    numericFields: [['ttlSeconds']],
  },
  { name: 'consent-put', method: 'PUT', access: 'privacy', path: (_rng, ids) => `/v1/users/${enc(ids.user())}/consent`, body: (rng) => ({ personalization: rng.chance(0.7) }) },
  { name: 'consent-get', method: 'GET', access: 'privacy', path: (_rng, ids) => `/v1/users/${enc(ids.user())}/consent` },
  { name: 'user-delete', method: 'DELETE', access: 'privacy', path: (_rng, ids) => `/v1/users/${enc(ids.user())}` },
  { name: 'deletion-job', method: 'GET', access: 'privacy', path: (rng) => `/v1/deletion-jobs/fz-job-${rng.int(100)}` },
  { name: 'keys-create', method: 'POST', access: 'admin', path: () => '/v1/admin/keys', body: (rng) => ({ name: `fz-key-${rng.int(1000)}`, roles: [rng.pick(['ingest', 'recommend', 'privacy', 'admin'])] }) },
  { name: 'keys-list', method: 'GET', access: 'admin', path: () => '/v1/admin/keys' },
  { name: 'keys-revoke', method: 'DELETE', access: 'admin', path: (rng) => `/v1/admin/keys/${rng.int(2 ** 24).toString(16).padStart(12, '0')}` },
  { name: 'audit', method: 'GET', access: 'admin', path: () => '/v1/admin/audit', query: (rng) => ({ limit: String(rng.range(1, 100)) }) },
];

// ---------------------------------------------------------------------------------------------
// HTTP cases (sent with fetch)

export interface HttpCase {
  category: string;
  route: string;
  method: string;
  /** Path and query, as sent (may hold invalid percent-encoding). */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** The request must be refused (a 4xx): it names a pre-run session with an invalid event. */
  mustFail?: boolean;
  /** A well-formed event post to a pre-run session, whose ids the test tracks. */
  tracked?: { sessionId: string; events: JsonObject[] };
}

export interface HttpKeys {
  master: string;
  /** Keys with one role each: they must be refused (403) on routes needing another. */
  byRole: Readonly<Record<'ingest' | 'recommend', string>>;
}

export interface HttpContext {
  ids: FuzzIds;
  keys: HttpKeys;
  bodyLimit: number;
}

export const HTTP_CATEGORIES = [
  'wrong-type',
  'missing-field',
  'extra-field',
  'proto-keys',
  'huge-over-limit',
  'huge-under-limit',
  'deep-nesting',
  'number-text',
  'empty-body',
  'wrong-content-type',
  'truncated-json',
  'invalid-utf8',
  'long-url',
  'bad-query',
  'bad-percent-encoding',
  'auth',
  'method-path',
  'invalid-to-pre-run',
  'random-json',
] as const;
export type HttpCategory = (typeof HTTP_CATEGORIES)[number];

const HTTP_WEIGHTS: ReadonlyArray<readonly [number, HttpCategory | 'valid' | 'valid-to-pre-run']> = [
  [14, 'wrong-type'],
  [8, 'missing-field'],
  [8, 'extra-field'],
  [7, 'proto-keys'],
  [1.2, 'huge-over-limit'],
  [1.2, 'huge-under-limit'],
  [1.2, 'deep-nesting'],
  [6, 'number-text'],
  [4, 'empty-body'],
  [5, 'wrong-content-type'],
  [6, 'truncated-json'],
  [5, 'invalid-utf8'],
  [3, 'long-url'],
  [7, 'bad-query'],
  [4, 'bad-percent-encoding'],
  [8, 'auth'],
  [4, 'method-path'],
  [5, 'invalid-to-pre-run'],
  [4, 'random-json'],
  [3, 'valid'],
  [1, 'valid-to-pre-run'],
];

const withBody = ROUTES.filter((r) => r.body !== undefined);
const withQuery = ROUTES.filter((r) => r.query !== undefined);

function authHeaders(keys: HttpKeys, access: Access): Record<string, string> {
  return access === 'public' ? {} : { authorization: `Bearer ${keys.master}` };
}

function baseRequest(rng: Rng, ctx: HttpContext, route: RouteTemplate): { path: string; headers: Record<string, string>; body: JsonObject | undefined } {
  const query = route.query?.(rng, ctx.ids) ?? {};
  const qs = Object.entries(query).map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  const body = route.body?.(rng, ctx.ids);
  const headers: Record<string, string> = { ...authHeaders(ctx.keys, route.access) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return { path: route.path(rng, ctx.ids) + (qs === '' ? '' : `?${qs}`), headers, body };
}

const PROTO_PAYLOADS: readonly string[] = ['{"polluted":true}', '{"prototype":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', 'null', '1', '"x"', '[]'];
const NUMBER_TEXTS: readonly string[] = ['1e309', '-1e309', '-0', 'NaN', 'Infinity', '-Infinity', '0x1F', '1e-400', '01', '+1', '.5', '1.', '9007199254740993', `1${'0'.repeat(400)}`, '-', '1e', '1E+2', '0.0000000000000000000001', '- 1', '1_000', '١', '１'];
const MARK = '"FUZZVAL7f3a"';
const INVALID_UTF8: readonly number[][] = [[0xff], [0xfe], [0xc0, 0x80], [0xc1, 0xbf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xbf, 0xbf], [0xf0, 0x9f, 0x92]];

/** The JSON text of `body` with MARK placed as the value (or key, for `asKey`) at a random spot. */
function markedText(rng: Rng, body: JsonObject, preferPaths: JsonPath[] = [], asKey = false): string {
  const copy = cloneJson(body);
  if (asKey) {
    const objects = objectPaths(copy);
    const candidates = [...preferPaths.filter((p) => { const v = getAtSafe(copy, p); return v !== undefined && v !== null && typeof v === 'object' && !Array.isArray(v); }), ...objects];
    const target = candidates.length > 0 && rng.chance(0.5) ? rng.pick(candidates) : rng.pick(objects);
    const obj = (target.length === 0 ? copy : getAt(copy, target)) as JsonObject;
    obj.FUZZKEY7f3a = 0;
    return JSON.stringify(copy).replace('"FUZZKEY7f3a":0', MARK);
  }
  const existing = preferPaths.filter((p) => getAtSafe(copy, p.slice(0, -1)) !== undefined);
  const all = jsonPaths(copy);
  const path = existing.length > 0 && rng.chance(0.7) ? rng.pick(existing) : all.length > 0 ? rng.pick(all) : ['x'];
  const parent = getAtSafe(copy, path.slice(0, -1));
  if (parent === undefined || parent === null || typeof parent !== 'object') return JSON.stringify(copy).replace(/}$/, `,"x":${MARK}}`);
  setAt(copy, path, 'FUZZVAL7f3a');
  return JSON.stringify(copy);
}

function getAtSafe(root: Json, path: JsonPath): Json | undefined {
  let v: Json | undefined = root;
  for (const step of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, Json>)[step];
  }
  return v;
}

function sizedBody(prefix: string, suffix: string, totalBytes: number, filler: string): string {
  const fixed = Buffer.byteLength(prefix + suffix);
  const unit = Buffer.byteLength(filler);
  const count = Math.max(0, Math.floor((totalBytes - fixed) / unit));
  let body = prefix + filler.repeat(count) + suffix;
  while (Buffer.byteLength(body) < totalBytes) body = body.replace(suffix, `a${suffix}`);
  return body;
}

/** One HTTP request for fetch, of a category drawn by weight. */
export function httpCase(rng: Rng, ctx: HttpContext): HttpCase {
  const category = rng.weighted(HTTP_WEIGHTS);
  const route = rng.pick(ROUTES);
  switch (category) {
    case 'valid': {
      const { path, headers, body } = baseRequest(rng, ctx, route);
      return { category, route: route.name, method: route.method, path, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
    }
    case 'valid-to-pre-run': {
      const sessionId = rng.pick(ctx.ids.protectedSessions.slice(0, 1));
      const events = Array.from({ length: rng.range(1, 2) }, () => ({ eventType: rng.pick(EVENT_TYPES), itemId: rng.pick(DEMO_ITEMS) }));
      return { category, route: 'events', method: 'POST', path: '/v1/events', headers: { authorization: `Bearer ${ctx.keys.master}`, 'content-type': 'application/json' }, body: JSON.stringify({ sessionId, eventList: events }), tracked: { sessionId, events } };
    }
    case 'wrong-type':
    case 'missing-field':
    case 'extra-field': {
      const r = rng.pick(withBody);
      const { path, headers, body } = baseRequest(rng, ctx, r);
      const copy = cloneJson(body ?? {});
      if (category === 'extra-field') {
        const target = rng.pick(objectPaths(copy));
        const obj = (target.length === 0 ? copy : getAt(copy, target)) as JsonObject;
        obj[rng.chance(0.3) ? randomKey(rng) : `extra${rng.int(10)}`] = randomJson(rng);
      } else {
        const paths = jsonPaths(copy);
        const target = paths.length === 0 ? ['x'] : rng.pick(paths);
        if (category === 'missing-field') setAt(copy, target, undefined);
        else setAt(copy, target, wrongTyped(rng, getAtSafe(copy, target) ?? null));
      }
      return { category, route: r.name, method: r.method, path, headers, body: JSON.stringify(copy) };
    }
    case 'proto-keys': {
      const r = rng.chance(0.5) ? ROUTES[0] : rng.pick(withBody);
      const { path, headers, body } = baseRequest(rng, ctx, r);
      const b = body ?? {};
      // Inside properties (where free-form objects are allowed), or anywhere.
      const prefer: JsonPath[] = r.name === 'events' ? [['eventList', 0, 'properties']] : [];
      if (r.name === 'events' && rng.chance(0.6)) (b.eventList as JsonObject[])[0].properties = { ok: 1 };
      const key = rng.pick(['__proto__', 'constructor', 'prototype']);
      const text = markedText(rng, b, prefer, true).replace(MARK, `"${key}":${rng.pick(PROTO_PAYLOADS)}`);
      return { category, route: r.name, method: r.method, path, headers, body: text };
    }
    case 'huge-over-limit':
    case 'huge-under-limit': {
      const r = rng.pick(withBody);
      const { path, headers } = baseRequest(rng, ctx, r);
      const target = category === 'huge-over-limit' ? ctx.bodyLimit + rng.pick([1, 2, 100, 4096, 70_000]) : ctx.bodyLimit - rng.pick([0, 1, 2, 64, 1000]);
      const filler = rng.pick(['a', 'é', '💥', ' ', '\\u0000']);
      const shape = rng.int(3);
      const [prefix, suffix] =
        shape === 0
          ? ['{"sessionId":"fz-huge","eventList":[{"eventType":"view","itemId":"', '"}]}']
          : shape === 1
            ? ['{"sessionId":"fz-huge","eventList":[{"eventType":"view","itemId":"books-001","properties":{"p":"', '"}}]}']
            : ['[', '1]'];
      const body = sizedBody(prefix, suffix, target, shape === 2 ? '1,' : filler);
      if (rng.chance(0.15)) delete headers['content-type'];
      else headers['content-type'] = 'application/json';
      return { category, route: r.name, method: r.method, path, headers, body };
    }
    case 'deep-nesting': {
      const r = rng.chance(0.5) ? ROUTES[0] : rng.pick(withBody);
      const { path, headers } = baseRequest(rng, ctx, r);
      const n = rng.pick([100, 1000, 20_000, 100_000]);
      const variant = rng.int(5);
      let body: string;
      if (variant === 0) body = '['.repeat(n) + ']'.repeat(n);
      else if (variant === 1) body = '['.repeat(n);
      else if (variant === 2) body = '{"a":'.repeat(Math.min(n, 30_000)) + '1' + '}'.repeat(Math.min(n, 30_000));
      else if (variant === 3) body = `{"sessionId":"fz-deep","eventList":[{"eventType":"view","itemId":"books-001","properties":{"a":${'['.repeat(n)}${rng.chance(0.3) ? '{"__proto__":1}' : '1'}${']'.repeat(n)}}}]}`;
      else body = `{"sessionId":"fz-deep","eventList":${'['.repeat(n)}${']'.repeat(n)}}`;
      return { category, route: r.name, method: r.method, path, headers: { ...headers, 'content-type': 'application/json' }, body };
    }
    case 'number-text': {
      if (rng.chance(0.3)) {
        const r = rng.pick(withQuery);
        const { path, headers } = baseRequest(rng, ctx, r);
        const name = rng.pick(['numResults', 'limit', 'offset', 'promotionShare']);
        return { category, route: r.name, method: r.method, path: `${path}${path.includes('?') ? '&' : '?'}${name}=${enc(rng.pick(NUMBER_TEXTS))}`, headers };
      }
      const r = rng.pick(withBody);
      const { path, headers, body } = baseRequest(rng, ctx, r);
      const text = markedText(rng, body ?? {}, r.numericFields ?? []).replace(MARK, rng.pick(NUMBER_TEXTS));
      return { category, route: r.name, method: r.method, path, headers, body: text };
    }
    case 'empty-body': {
      const r = rng.pick(withBody);
      const { path, headers } = baseRequest(rng, ctx, r);
      if (rng.chance(0.3)) delete headers['content-type'];
      return { category, route: r.name, method: r.method, path, headers, body: rng.pick(['', ' ', '\n', '\r\n\t ', 'null', '0', '""', '[]', 'true', '{}', '\ufeff{}']) };
    }
    case 'wrong-content-type': {
      const r = rng.pick(withBody);
      const { path, headers, body } = baseRequest(rng, ctx, r);
      headers['content-type'] = rng.pick([
        'text/plain',
        'text/plain; charset=utf-8',
        'application/xml',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=xyz',
        'application/json; charset=utf-16',
        'application/json; charset=latin1',
        'application/jsonx',
        'application/json;;',
        'APPLICATION/JSON',
        'json',
        '*/*',
        'application/*',
        'application/octet-stream',
        'application/json, text/plain',
        'application/vnd.api+json',
        ';',
        'a'.repeat(2000),
      ]);
      return { category, route: r.name, method: r.method, path, headers, body: rng.chance(0.8) ? JSON.stringify(body) : 'sessionId=x&eventList=y' };
    }
    case 'truncated-json': {
      const r = rng.pick(withBody);
      const { path, headers, body } = baseRequest(rng, ctx, r);
      const text = JSON.stringify(body);
      return { category, route: r.name, method: r.method, path, headers, body: text.slice(0, rng.int(text.length)) + (rng.chance(0.2) ? rng.pick([',', ']', '}}', '"', '\\', ',,']) : '') };
    }
    case 'invalid-utf8': {
      const r = rng.chance(0.6) ? ROUTES[0] : rng.pick(withBody);
      const { path, headers, body } = baseRequest(rng, ctx, r);
      const text = JSON.stringify(body);
      // Bytes inside a string value (between quotes), or anywhere, or a UTF-16 body.
      const variant = rng.int(4);
      let bytes: Buffer;
      if (variant === 3) bytes = Buffer.from(text, 'utf16le');
      else {
        const quotes = [...text.matchAll(/":"/g)].map((m) => (m.index ?? 0) + 3);
        const at = variant === 2 || quotes.length === 0 ? rng.int(text.length + 1) : rng.pick(quotes);
        const bad = Buffer.from(rng.pick(INVALID_UTF8));
        bytes = Buffer.concat([Buffer.from(text.slice(0, at)), bad, Buffer.from(text.slice(at))]);
      }
      if (rng.chance(0.2)) bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
      return { category, route: r.name, method: r.method, path, headers: { ...headers, 'content-type': 'application/json' }, body: bytes };
    }
    case 'long-url': {
      const r = rng.pick(ROUTES.filter((x) => x.method === 'GET'));
      const { path, headers } = baseRequest(rng, ctx, r);
      const sep = path.includes('?') ? '&' : '?';
      const size = rng.pick([2000, 8000, 15_000, 16_500, 20_000, 70_000]);
      const variant = rng.int(4);
      const tail =
        variant === 0
          ? `x=${'a'.repeat(size)}`
          : variant === 1
            ? 'numResults=1&'.repeat(Math.ceil(size / 13))
            : variant === 2
              ? `category=${','.repeat(size)}`
              : `${'p'.repeat(size)}`;
      const longPath = rng.chance(0.2) ? `/v1/items/${'i'.repeat(size)}/related` : `${path}${sep}${tail}`;
      return { category, route: r.name, method: 'GET', path: longPath, headers };
    }
    case 'bad-query': {
      const r = rng.pick(withQuery);
      const { path, headers } = baseRequest(rng, ctx, r);
      const sep = path.includes('?') ? '&' : '?';
      const extra = rng.pick([
        'numResults=abc',
        'numResults=-5',
        'numResults=0',
        'numResults=501',
        'numResults=1.5',
        'numResults=',
        'numResults=true',
        'numResults=1&numResults=2',
        'numResults[]=1',
        'numResults[x]=1',
        '__proto__=x',
        '__proto__[polluted]=1',
        'constructor[prototype][polluted]=1',
        'constructor=x',
        'prototype=1',
        'sessionId=',
        'sessionId=a&sessionId=b',
        'userId=&sessionId=',
        `sessionId=${'s'.repeat(257)}`,
        'excludeSeen=maybe',
        'includeOutOfStock=1',
        'promotionShare=2',
        'promotionShare=0',
        'promotionName=x',
        'promotionName=x&promotionCategory=books&promotionShare=0.5',
        'category=',
        'limit=0',
        'offset=-1',
        'before=',
        '%',
        '%zz=1',
        'sessionId=%E0%A4%A',
        'sessionId=%ff%fe',
        'sessionId=%00',
        '&&&',
        '=',
        '==',
        '=1',
        'a=%',
        'modelDir=/',
        'modelDir=.',
        `unknown${rng.int(10)}=1`,
      ]);
      return { category, route: r.name, method: r.method, path: `${path}${sep}${extra}`, headers };
    }
    case 'bad-percent-encoding': {
      const path = rng.pick([
        '/v1/items/%/related',
        '/v1/items/%zz/related',
        '/v1/items/%E0%A4%A/related',
        '/v1/items/%ff%fe/related',
        '/v1/items/%C0%80/related',
        '/v1/items/%ED%A0%80/related',
        '/v1/items/%00/related',
        '/v1/users/%/segment',
        '/v1/users/%ff/consent',
        '/v1/users/%E0%A4%A',
        '/v1/import-jobs/%',
        '/v1/deletion-jobs/%ZZ',
        '/v1/admin/keys/%',
        '/v1/%65vents',
        '/%2e%2e/healthz',
        '/v1/items/..%2f..%2fhealthz/related',
        '/healthz%00',
        '/healthz%',
        '/%',
        '/v1/items/%2/related',
        '/v1/items/%%%/related',
        '/v1/items/%u0041/related',
      ]);
      const method = path.startsWith('/v1/users/%E0') || path.startsWith('/v1/admin/keys') ? 'DELETE' : path.includes('/consent') && rng.chance(0.5) ? 'PUT' : 'GET';
      const headers: Record<string, string> = { authorization: `Bearer ${ctx.keys.master}` };
      return { category, route: 'percent', method, path, headers, ...(method === 'PUT' ? { body: '{"personalization":true}' } : {}) };
    }
    case 'auth': {
      const r = rng.pick(ROUTES.filter((x) => x.access !== 'public'));
      const { path, headers, body } = baseRequest(rng, ctx, r);
      delete headers.authorization;
      const master = ctx.keys.master;
      const forOtherRole = r.access === 'admin' ? rng.pick([ctx.keys.byRole.ingest, ctx.keys.byRole.recommend]) : r.access === 'ingest' ? ctx.keys.byRole.recommend : ctx.keys.byRole.ingest;
      const variant = rng.int(14);
      if (variant === 0) {
        // no key at all
      } else if (variant === 1) headers.authorization = 'Bearer';
      else if (variant === 2) headers.authorization = 'Bearer   ';
      else if (variant === 3) headers.authorization = `Bearer ${master}x`;
      else if (variant === 4) headers.authorization = `Bearer ${master.slice(0, -1)}`;
      else if (variant === 5) headers.authorization = 'Basic dXNlcjpwYXNz';
      else if (variant === 6) headers['x-api-key'] = rng.pick(['wrong', '', ' ', `${master} ${master}`, 'atk_', `atk_${'0'.repeat(12)}_${'A'.repeat(43)}`]);
      else if (variant === 7) headers.authorization = `Bearer atk_${rng.int(2 ** 30).toString(16).padStart(12, '0')}_${'B'.repeat(42)}${rng.pick(['A', 'B', 'C'])}`;
      else if (variant === 8) headers.authorization = `Bearer ${'k'.repeat(rng.pick([100, 4000, 12_000]))}`;
      else if (variant === 9) headers.authorization = `Bearer ${forOtherRole}`;
      else if (variant === 10) headers['x-api-key'] = forOtherRole;
      else if (variant === 11) headers.authorization = `bearer ${master.toUpperCase()}`;
      else if (variant === 12) headers.authorization = `Token ${master}`;
      else {
        headers.authorization = 'Bearer nope';
        headers['x-api-key'] = master;
      }
      return { category, route: r.name, method: r.method, path, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
    }
    case 'method-path': {
      const variant = rng.int(3);
      const headers: Record<string, string> = { authorization: `Bearer ${ctx.keys.master}` };
      if (variant === 0) {
        const r = rng.pick(ROUTES);
        const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'].filter((m) => m !== r.method));
        const { path } = baseRequest(rng, ctx, r);
        return { category, route: r.name, method, path, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body: '{}', headers: { ...headers, 'content-type': 'application/json' } }) };
      }
      const path = rng.pick([
        '/v1/EVENTS',
        '/v1/events/',
        '//v1//events',
        '/v1/events/../admin/keys',
        '/v1/./events',
        '/v1',
        '/v2/events',
        '/v1/items/',
        '/v1/items//related',
        '/v1/users//segment',
        '/v1/admin',
        '/v1/admin/',
        '/socket.io',
        '/metrics/',
        '/healthz/x',
        '/' + 'a/'.repeat(200),
        `/${randomString(rng).replace(/[^\x21-\x7e]/g, 'x')}`,
        '/v1/events?',
        '/v1/events#frag',
        '/*',
        '/v1/items/:itemId/related',
      ]);
      return { category, route: 'unknown', method: rng.pick(['GET', 'POST', 'DELETE', 'PUT', 'PATCH']), path, headers };
    }
    case 'invalid-to-pre-run': {
      // Names a pre-run session (or user) with a body that must be refused: nothing may reach its log.
      const sessionId = rng.pick(ctx.ids.protectedSessions);
      const eventList: Json[] = Array.from({ length: rng.range(1, 4) }, () => validEvent(rng, ctx.ids));
      eventList[rng.int(eventList.length)] = invalidEvent(rng, ctx.ids);
      const body: JsonObject = { sessionId, eventList };
      if (rng.chance(0.3)) body.userId = rng.pick(ctx.ids.protectedUsers);
      let text = JSON.stringify(body);
      const variant = rng.int(6);
      if (variant === 0) text = text.slice(0, rng.range(1, text.length - 1));
      else if (variant === 1) text = JSON.stringify({ ...body, eventList: Array.from({ length: 11 }, () => validEvent(rng, ctx.ids)) });
      else if (variant === 2) text = JSON.stringify({ ...body, eventList: [] });
      else if (variant === 3) text = JSON.stringify({ ...body, extra: 1 });
      return { category, route: 'events', method: 'POST', path: '/v1/events', headers: { authorization: `Bearer ${ctx.keys.master}`, 'content-type': 'application/json' }, body: text, mustFail: true };
    }
    case 'random-json': {
      const r = rng.pick(withBody);
      const { path, headers } = baseRequest(rng, ctx, r);
      return { category, route: r.name, method: r.method, path, headers, body: JSON.stringify(randomJson(rng)) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP bytes (sent with node:net)

export interface RawCase {
  category: string;
  bytes: Buffer;
  /** Responses to HEAD have no body. */
  head?: boolean;
}

export function rawCase(rng: Rng, ctx: HttpContext): RawCase {
  const key = ctx.keys.master;
  const category = rng.pick(['request-line', 'headers', 'content-length', 'chunked', 'invalid-utf8', 'pipelined', 'upgrade', 'binary', 'http10'] as const);
  const crlf = '\r\n';
  const req = (head: string, headers: string[], body: Buffer | string = ''): Buffer =>
    Buffer.concat([Buffer.from(head + crlf + headers.map((h) => h + crlf).join('') + crlf, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
  const json = '{"sessionId":"fz-raw","eventList":[{"eventType":"view","itemId":"books-001"}]}';
  const base = [`Host: 127.0.0.1`, `Authorization: Bearer ${key}`, 'Connection: close'];
  switch (category) {
    case 'request-line': {
      const line = rng.pick([
        'GARBAGE',
        'GET',
        'GET /healthz',
        'GET /healthz HTTP/9.9',
        'GET /healthz HTTP/1.1 extra',
        'GET  /healthz HTTP/1.1',
        'get /healthz HTTP/1.1',
        'G\u00e9T /healthz HTTP/1.1',
        'GET /heal\u0000thz HTTP/1.1',
        'GET /heal thz HTTP/1.1',
        'GET healthz HTTP/1.1',
        'GET http://evil/healthz HTTP/1.1',
        'GET * HTTP/1.1',
        'OPTIONS * HTTP/1.1',
        'CONNECT 127.0.0.1:1 HTTP/1.1',
        'TRACE /healthz HTTP/1.1',
        'BREW /healthz HTTP/1.1',
        `${'G'.repeat(5000)} /healthz HTTP/1.1`,
        'GET /healthz\u00ff HTTP/1.1',
        'GET /v1/items/\u00e9/related HTTP/1.1',
        'GET /v1/items/%E0%A4%A/related HTTP/1.1',
        'HTTP/1.1 200 OK',
        '',
      ]);
      return { category, bytes: req(line, base) };
    }
    case 'headers': {
      const variant = rng.int(10);
      const h = [...base];
      if (variant === 0) h.push('NoColonHere');
      else if (variant === 1) h.push('Bad Header: x');
      else if (variant === 2) h.push('X-Thing: a\u0000b');
      else if (variant === 3) h.push('X-Thing: a', ' folded continuation');
      else if (variant === 4) h.push(`X-Big: ${'b'.repeat(rng.pick([8000, 17_000, 70_000]))}`);
      else if (variant === 5) for (let i = 0; i < 2500; i++) h.push(`X-H${i}: ${i}`);
      else if (variant === 6) h.push('Content-Length: 5', 'Content-Length: 6');
      else if (variant === 7) h.push('Host: second');
      else if (variant === 8) h.push(`X-Request-Id: ${'\u00ff'.repeat(10)}`, 'Content-Type: application/json\u00ff');
      else h.push(':');
      const body = variant === 6 ? 'hello' : '';
      return { category, bytes: req(rng.pick(['GET /healthz HTTP/1.1', 'POST /v1/events HTTP/1.1', 'GET /v1/popular HTTP/1.1']), h, body) };
    }
    case 'content-length': {
      const body = json;
      const len = Buffer.byteLength(body);
      const cl = rng.pick(['abc', '-1', '99999999999999999999', '1e3', ' 10', '0x10', '', `${len - 5}`, `${len + 50}`, `${ctx.bodyLimit + 1}`, `${len}, ${len}`, '0']);
      return { category, bytes: req('POST /v1/events HTTP/1.1', [...base, 'Content-Type: application/json', `Content-Length: ${cl}`], body) };
    }
    case 'chunked': {
      const body = rng.pick([
        'zz\r\n{}\r\n0\r\n\r\n',
        '5\r\n{"a":\r\n',
        'ffffffffffffffffff\r\nx\r\n0\r\n\r\n',
        `${(json.length + 10).toString(16)}\r\n${json}\r\n0\r\n\r\n`,
        `${json.length.toString(16)};ext="\u0000"\r\n${json}\r\n0\r\n\r\n`,
        `${json.length.toString(16)}\r\n${json}0\r\n\r\n`,
        `2\r\n{}\r\n0\r\nTrailer: x\r\n\r\n`,
        `1\r\n{\r\n1\r\n}\r\n0\r\n\r\n`,
        '-1\r\n\r\n',
        `${json.length.toString(16)}\r\n${json}\r\n`,
      ]);
      const extra = rng.chance(0.3) ? ['Content-Length: 10'] : [];
      const te = rng.pick(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, chunked', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding:  chunked ', 'Transfer-Encoding: xchunked']);
      return { category, bytes: req('POST /v1/events HTTP/1.1', [...base, 'Content-Type: application/json', te, ...extra], body) };
    }
    case 'invalid-utf8': {
      const bad = Buffer.from(rng.pick(INVALID_UTF8));
      const at = rng.int(json.length);
      const body = Buffer.concat([Buffer.from(json.slice(0, at)), bad, Buffer.from(json.slice(at))]);
      const target = rng.pick(['/v1/events', `/v1/items/${String.fromCharCode(0xff)}/related`, '/v1/personalize-ranking']);
      return { category, bytes: req(`POST ${target} HTTP/1.1`, [...base, 'Content-Type: application/json', `Content-Length: ${body.length}`], body) };
    }
    case 'pipelined': {
      const first = req('GET /healthz HTTP/1.1', ['Host: x']);
      const second = rng.pick([Buffer.from('GARBAGE\r\n\r\n'), req('POST /v1/events HTTP/1.1', [...base, 'Content-Type: application/json', 'Content-Length: 3'], '{"a'), Buffer.from([0, 1, 2, 3, 255, 254])]);
      return { category, bytes: Buffer.concat([first, second]) };
    }
    case 'upgrade': {
      const path = rng.pick(['/socket.io/?EIO=4&transport=websocket', '/socket.io/?EIO=99&transport=websocket', '/socket.io/?EIO=4&transport=polling', '/socket.io/?transport=websocket', '/socket.io/', '/healthz']);
      const h = ['Host: x', rng.pick(['Upgrade: websocket', 'Upgrade: h2c', 'Upgrade: garbage']), 'Connection: Upgrade', rng.pick(['Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 99', ''])].filter((x) => x !== '');
      if (rng.chance(0.5)) h.push(`Sec-WebSocket-Key: ${rng.pick(['dGhlIHNhbXBsZSBub25jZQ==', 'short', '', '!!!!'])}`);
      return { category, bytes: req(`GET ${path} HTTP/1.1`, h) };
    }
    case 'binary': {
      const bytes = Buffer.alloc(rng.range(1, 2000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
      return { category, bytes };
    }
    case 'http10': {
      const head = rng.chance(0.5);
      return { category, bytes: req(`${head ? 'HEAD' : 'GET'} ${rng.pick(['/healthz', '/nope', '/v1/popular', '/v1/items/%/related'])} HTTP/1.0`, []), head };
    }
  }
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The HTTP/1.x responses in `data`, in order; stops at the first one it cannot read whole. */
export function parseResponses(data: Buffer, head: boolean): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (match === null) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(match[1]);
    let bodyStart = end + 4;
    let body: Buffer = Buffer.alloc(0);
    if (head || status === 101 || status === 204 || status === 304) {
      // no body
    } else if (headers['transfer-encoding']?.includes('chunked')) {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', bodyStart);
        if (lineEnd === -1) return out;
        const size = parseInt(data.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) return out;
        bodyStart = lineEnd + 2;
        if (size === 0) {
          bodyStart += 2;
          break;
        }
        chunks.push(data.subarray(bodyStart, bodyStart + size));
        bodyStart += size + 2;
      }
      body = Buffer.concat(chunks);
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (bodyStart + len > data.length) break;
      body = data.subarray(bodyStart, bodyStart + len);
      bodyStart += len;
    } else {
      body = data.subarray(bodyStart);
      bodyStart = data.length;
    }
    out.push({ status, headers, body: body.toString('utf8') });
    at = bodyStart;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Socket messages (sent with socket.io-client)

export type SocketCase =
  | { category: string; kind: 'emit'; event: 'event' | 'identify'; args: unknown[]; ack: 'function' | 'none' | 'non-function'; mustFail: boolean }
  | { category: string; kind: 'unknown-event'; event: string; args: unknown[] }
  | { category: string; kind: 'raw-packet'; packet: string | Buffer }
  | { category: string; kind: 'oversized'; event: string; payload: unknown }
  | { category: string; kind: 'auth'; auth: Record<string, unknown> };

export interface SocketContext {
  ids: FuzzIds;
  /** Tokens from POST /v1/tokens, for tampering; and one signed with another secret. */
  realToken: string;
  forgedToken: string;
}

const UNKNOWN_EVENTS: readonly string[] = ['foo', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'recommendations', 'message', 'error', 'newListener', 'removeListener', 'Event', 'event ', 'identify\u0000', 'x'.repeat(1000), '💥', ''];

/** A payload carrying binary attachments, and whether the server must refuse it. */
function binaryPayload(rng: Rng): [unknown, boolean] {
  const bytes = Buffer.alloc(rng.range(0, 300));
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  // Bytes inside properties are an object as far as the schema goes: not a must-fail.
  if (rng.chance(0.15)) return [{ eventType: 'view', itemId: 'books-001', properties: { blob: bytes } }, false];
  return [rng.pick<unknown>([bytes, { eventType: 'view', itemId: bytes }, { eventType: bytes, itemId: 'books-001' }, [bytes, bytes], { userId: bytes }]), true];
}

export function socketCase(rng: Rng, ctx: SocketContext): SocketCase {
  const kind = rng.weighted<string>([
    [40, 'event-mutated'],
    [14, 'event-random'],
    [12, 'identify'],
    [6, 'non-function-ack'],
    [6, 'unknown-event'],
    [6, 'binary'],
    [4, 'raw-packet'],
    [2, 'oversized'],
    [5, 'auth'],
    [5, 'number-text'],
  ]);
  switch (kind) {
    case 'event-mutated':
      return { category: kind, kind: 'emit', event: 'event', args: [invalidEvent(rng, ctx.ids)], ack: 'function', mustFail: true };
    case 'event-random': {
      const args = rng.chance(0.8) ? [randomJson(rng)] : rng.chance(0.5) ? [] : [randomJson(rng), randomJson(rng)];
      return { category: kind, kind: 'emit', event: 'event', args, ack: 'function', mustFail: false };
    }
    case 'identify': {
      if (rng.chance(0.15)) return { category: kind, kind: 'emit', event: 'identify', args: [randomJson(rng)], ack: 'function', mustFail: false };
      const payload = rng.pick<Json>([null, 'alice', 1, [], {}, { userId: '' }, { userId: 5 }, { userId: null }, { userId: 'u'.repeat(257) }, { userId: ctx.ids.user(), extra: 1 }, { user: 'x' }, JSON.parse('{"__proto__":{"userId":"x"}}') as Json, JSON.parse('{"userId":"x","constructor":{}}') as Json]);
      return { category: kind, kind: 'emit', event: 'identify', args: [payload], ack: 'function', mustFail: true };
    }
    case 'non-function-ack':
      return { category: kind, kind: 'emit', event: rng.pick(['event', 'identify'] as const), args: [rng.chance(0.5) ? invalidEvent(rng, ctx.ids) : validEvent(rng, ctx.ids), rng.pick<unknown>([123, 'ack', {}, [], null, true])], ack: 'non-function', mustFail: false };
    case 'unknown-event':
      return { category: kind, kind: 'unknown-event', event: rng.pick(UNKNOWN_EVENTS), args: rng.chance(0.5) ? [randomJson(rng)] : [] };
    case 'binary': {
      const [payload, mustFail] = binaryPayload(rng);
      return { category: kind, kind: 'emit', event: mustFail ? rng.pick(['event', 'identify'] as const) : 'event', args: [payload], ack: 'function', mustFail };
    }
    case 'raw-packet': {
      const packet = rng.pick<string | Buffer>([
        '42["event",{"a":1}',
        '42["event"',
        '42[',
        '42{}',
        '42["disconnect"]',
        '42["connect"]',
        '42[1,2,3]',
        '42[null]',
        '42[]',
        '4',
        '9zzz',
        '41',
        '43',
        '431[]',
        '40/nope,',
        '40/admin,{"token":"x"}',
        '451-["event",{"_placeholder":true,"num":5}]',
        '451-["event",{"_placeholder":true,"num":0}]',
        '42999999999999999999999["event",{}]',
        `42["event",${'['.repeat(10_000)}${']'.repeat(10_000)}]`,
        '42["event",{"eventType":"view","itemId":"books-001","eventValue":1e309}]',
        '42["event",{"eventType":"view","itemId":"books-001","properties":{"__proto__":{"polluted":true}}}]',
        Buffer.from([0xff, 0x00, 0x12]),
        Buffer.from('42["event"]'),
      ]);
      return { category: kind, kind: 'raw-packet', packet };
    }
    case 'oversized': {
      const n = rng.pick([65 * 1024, 70_000, 200_000, 1_000_000]);
      return { category: kind, kind: 'oversized', event: rng.pick(['event', 'identify', 'foo']), payload: rng.chance(0.5) ? { eventType: 'view', itemId: 'x'.repeat(n) } : Buffer.alloc(n, 7) };
    }
    case 'auth': {
      const tampered = ctx.realToken.slice(0, -2) + (ctx.realToken.endsWith('AA') ? 'BB' : 'AA');
      const [payload, sig] = ctx.realToken.split('.');
      const auth = rng.pick<Record<string, unknown>>([
        {},
        { sessionId: '' },
        { sessionId: 5 },
        { sessionId: null },
        { sessionId: ['a'] },
        { sessionId: 's'.repeat(257) },
        { sessionId: ctx.ids.session(), userId: '' },
        { sessionId: ctx.ids.session(), userId: 7 },
        { token: '' },
        { token: 5 },
        { token: 'garbage' },
        { token: 'a.b' },
        { token: 'a.b.c' },
        { token: '.' },
        { token: 't'.repeat(2049) },
        { token: tampered },
        { token: `${payload}.${sig}x` },
        { token: `${payload}=.${sig}` },
        { token: `${sig}.${payload}` },
        { token: ctx.forgedToken },
        { token: ctx.realToken.toUpperCase() },
        { token: ctx.forgedToken, sessionId: ctx.ids.session() },
        { token: [ctx.realToken] },
        { user: 'x' },
        randomJsonObject(rng),
      ]);
      return { category: kind, kind: 'auth', auth };
    }
    default: {
      // number-text: raw packets whose numbers JSON.parse turns into Infinity, -0, huge ints.
      const text = rng.pick(['1e309', '-1e309', '-0', '1e-400', `1${'0'.repeat(400)}`, '9007199254740993']);
      const field = rng.pick(['eventValue', 'sentAt', 'itemId', 'eventType']);
      return { category: kind, kind: 'raw-packet', packet: `42["event",{"eventType":"view","itemId":"books-001","${field}":${text}}]` };
    }
  }
}

function randomJsonObject(rng: Rng): Record<string, unknown> {
  const v = randomJson(rng);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : { value: v };
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket frames (sent with node:net after a hand-made upgrade)

/** A client frame: masked unless told otherwise; `declaredLength` may lie about the payload. */
export function wsFrame(opcode: number, payload: Buffer, options: { fin?: boolean; mask?: boolean; rsv?: number; declaredLength?: bigint } = {}): Buffer {
  const fin = options.fin ?? true;
  const mask = options.mask ?? true;
  const length = options.declaredLength ?? BigInt(payload.length);
  const head: number[] = [(fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  let ext = Buffer.alloc(0);
  if (length < 126n) head.push((mask ? 0x80 : 0) | Number(length));
  else if (length < 65536n) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

export interface WsFrameIn {
  opcode: number;
  payload: Buffer;
}

/** Server frames (unmasked) in `data`; returns those complete and the bytes left over. */
export function readWsFrames(data: Buffer): { frames: WsFrameIn[]; rest: Buffer } {
  const frames: WsFrameIn[] = [];
  let at = 0;
  while (data.length - at >= 2) {
    const opcode = data[at] & 0x0f;
    let len = data[at + 1] & 0x7f;
    let start = at + 2;
    if (len === 126) {
      if (data.length - at < 4) break;
      len = data.readUInt16BE(at + 2);
      start = at + 4;
    } else if (len === 127) {
      if (data.length - at < 10) break;
      len = Number(data.readBigUInt64BE(at + 2));
      start = at + 10;
    }
    if (start + len > data.length) break;
    frames.push({ opcode, payload: data.subarray(start, start + len) });
    at = start + len;
  }
  return { frames, rest: data.subarray(at) };
}

export type WsCase = { category: string; frames: Buffer[]; /** Expect a CONNECT answer ('40' or '44') to the default namespace. */ expectConnectReply: boolean };

export function wsCase(rng: Rng, ctx: SocketContext): WsCase {
  const text = (s: string | Buffer, o: Parameters<typeof wsFrame>[2] = {}) => wsFrame(0x1, typeof s === 'string' ? Buffer.from(s, 'utf8') : s, o);
  const category = rng.pick(['connect-auth', 'invalid-utf8', 'protocol', 'oversized', 'engine-garbage'] as const);
  switch (category) {
    case 'connect-auth': {
      const auth = rng.pick<string>([
        '{}',
        '{"sessionId":""}',
        '{"sessionId":5}',
        '{"sessionId":{"__proto__":{"polluted":true}}}',
        '{"__proto__":{"sessionId":"x"}}',
        '{"constructor":{"prototype":{"polluted":true}}}',
        `{"token":"${ctx.realToken}x"}`,
        `{"token":"${ctx.forgedToken}"}`,
        '{"token":"garbage"}',
        '{"token":null}',
        `{"sessionId":"${'s'.repeat(257)}"}`,
        '{"sessionId":"ok","userId":""}',
        '{"sessionId":"ok","userId":[]}',
        JSON.stringify(randomJsonObject(rng)),
        '[]',
        '"x"',
        '1e309',
        '{"sessionId":',
        '{',
        'null',
      ]);
      return { category, frames: [text(`40${auth}`)], expectConnectReply: true };
    }
    case 'invalid-utf8':
      return { category, frames: [text(Buffer.concat([Buffer.from('42["event",{"eventType":"view","itemId":"'), Buffer.from(rng.pick(INVALID_UTF8)), Buffer.from('"}]')]))], expectConnectReply: false };
    case 'protocol': {
      const variant = rng.int(7);
      const p = Buffer.from('40{"sessionId":"fz-ws"}');
      const frames =
        variant === 0
          ? [text(p, { mask: false })]
          : variant === 1
            ? [wsFrame(0x3, p)]
            : variant === 2
              ? [text(p, { rsv: rng.range(1, 7) })]
              : variant === 3
                ? [wsFrame(0x9, Buffer.alloc(200))]
                : variant === 4
                  ? [text(p, { fin: false }), text(p)]
                  : variant === 5
                    ? [wsFrame(0x0, p)]
                    : [wsFrame(0x8, Buffer.from([0x03]))];
      return { category, frames, expectConnectReply: false };
    }
    case 'oversized': {
      const variant = rng.int(3);
      const frames =
        variant === 0
          ? [text(Buffer.alloc(70_000, 0x61))]
          : variant === 1
            ? [text(Buffer.from('42'), { declaredLength: 2n ** 53n })]
            : [text(Buffer.from('42'), { declaredLength: 2n ** 63n + 5n })];
      return { category, frames, expectConnectReply: false };
    }
    case 'engine-garbage':
      return { category, frames: [rng.chance(0.5) ? text(rng.pick(['', '9', '6', '5', '3', '1', '2probe', '4', '7', '0', 'b', 'bAAAA', '💥'])) : wsFrame(0x2, Buffer.from([rng.int(256), rng.int(256), rng.int(256)]))], expectConnectReply: false };
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

export interface ErrorShape {
  code: string;
  message: string;
}

/** Whether `value` is `{ code: ATTUNE_ERR_*, message }` (with `retryable: true` allowed). */
export function isErrorBody(value: unknown): value is ErrorShape {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { code, message, retryable, ...rest } = value as Record<string, unknown>;
  return typeof code === 'string' && /^ATTUNE_ERR_[A-Z_]+$/.test(code) && typeof message === 'string' && (retryable === undefined || retryable === true) && Object.keys(rest).length === 0;
}

/** Whether an HTTP error body is `{ error: { code, message } }`. */
export function isErrorResponse(text: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
  const keys = Object.keys(parsed);
  return keys.length === 1 && keys[0] === 'error' && isErrorBody((parsed as { error: unknown }).error);
}

/** A short printable description of an input, for failure reports. */
export function describe(value: unknown, max = 300): string {
  let text: string;
  if (Buffer.isBuffer(value)) text = `<${value.length} bytes> ${JSON.stringify(value.subarray(0, max).toString('latin1'))}`;
  else if (typeof value === 'string') text = JSON.stringify(value);
  else {
    try {
      // The holder's own value: by the time a replacer sees a Buffer's value, toJSON has made it an array.
      text =
        JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
          const raw = this[key];
          return Buffer.isBuffer(raw) ? `<${raw.length} bytes>` : typeof v === 'string' && v.length > max ? `${v.slice(0, max)}… (${v.length} chars)` : v;
        }) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
