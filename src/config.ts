import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { parseExperiment } from './lib/experiment.js';
import { EVENTS_PER_PUT_MAX } from './session/event-schema.js';
import { defaultReducerConfig, type ReducerConfig } from './session/state.js';

/**
 * The one place that reads the environment and the command line. Everything else receives an
 * `AttuneConfig`, built once from defaults < environment < flags.
 */
export interface AttuneConfig {
  /** The interface to listen on; unless set, loopback in development mode (see DEV_HOST), every interface otherwise. */
  host: string;
  port: number;
  /** A model bundle directory; null trains the demo model at start into `dataDir`. */
  modelDir: string | null;
  /**
   * How often a node asks the model registry for the live version (the node bus tells it at
   * once; this catches what the bus lost).
   */
  modelPollMs: number;
  /** Where generated files (the demo model bundle) go. */
  dataDir: string;
  /**
   * An experiment: this share (0..1) of the actor keys is served by the candidate model, the rest
   * by the live one (src/model/model-arms.ts). Null: no experiment, everyone gets the live model.
   */
  experiment: { candidateShare: number } | null;
  /** The candidate's bundle directory for --experiment; null: the model registry's newest candidate. */
  candidateModelDir: string | null;
  /** Load the demo catalog at start. */
  demoCatalog: boolean;
  /** Import jobs read files only under this directory; null: `<dataDir>/imports` (see importDirOf). */
  importDir: string | null;
  /** How many items a `recommendations` push carries. */
  pushSize: number;
  logLevel: 'silent' | 'error' | 'warn' | 'info' | 'debug';
  actors: {
    /** An actor with no event for this long goes idle... */
    idleMs: number;
    /** ...and is passivated (snapshotted and dropped) after this much more. */
    passivateMs: number;
    /** Write-behind: a live actor is snapshotted every this many events. */
    snapshotEvery: number;
    /** Log entries a snapshot covers that stay in the log for replay, per key. */
    logKeep: number;
    /** How long an event's client id (`eventId`) is remembered: a resend within it is stored once and answered with the first ack. */
    dedupWindowMs: number;
  };
  scoring: {
    timeoutMs: number;
    maxBatch: number;
    intraOpThreads: number;
  };
  http: {
    bodyLimitBytes: number;
  };
  /** Redis mode: stores, shard leases and cross-node pushes on Redis. Null runs embedded, in memory. */
  redis: {
    url: string | null;
    /** Redis Cluster seed nodes, `host:port`; used instead of `url` when not empty. */
    cluster: readonly string[];
    password: string | null;
    /** PEM file of the CA that signed Redis's certificate (rediss:// with a private CA). */
    tlsCa: string | null;
  };
  cluster: {
    /** Unique per process; default host-pid-random. */
    nodeId: string | null;
    /** Fixed for the life of the data: it decides which shard, and which Redis slot, every key lives in. */
    shardCount: number;
    leaseTtlMs: number;
    /**
     * Where the other nodes reach this one to forward events of the keys it owns; default the
     * node's own URL (right when nodes share a host). Null: the default.
     */
    peerUrl: string | null;
    /** How long a node waits for an owner's answer to a forwarded batch before answering its client NOT_READY. */
    forwardTimeoutMs: number;
  };
  trends: {
    popularHalfLifeMs: number;
    trendingHalfLifeMs: number;
  };
  segments: {
    count: number;
    refreshMs: number;
  };
  /** Cached lists for keys with no live actor here (cold users, anonymous GETs, crawlers) and related items. */
  cache: {
    enabled: boolean;
    /** Entries per cache per node (the first layer). */
    localMax: number;
    /** A cached list is served as is for this long... */
    freshMs: number;
    /** ...and then, stale, for this much longer while one refresh runs. */
    staleMs: number;
    /** How long a node with nothing cached waits for another node's computation of the same list. */
    lockWaitMs: number;
    /** How often each node asks the catalog store for changes made through other nodes. */
    catalogPollMs: number;
  };
  /** Online metrics: lists served and the clicks, carts and purchases attributed to them (src/ops/online-metrics.ts). */
  online: {
    /** An event without a recommendationId is credited to its key's last list when it came within this long after it. */
    attributionWindowMs: number;
    /** How often a node adds its counts to the shared store. */
    flushMs: number;
    /** Lists a node remembers for attribution, and sessions (or users) whose latest lists it remembers: the least recently used are forgotten. */
    maxLists: number;
  };
  /** Live updates between retrains (README "Live updates"): content and co-occurrence neighbours, exploration. */
  live: {
    enabled: boolean;
    /** How often a node sends the co-occurrences of its own events to the others. */
    shareMs: number;
    /** Weight of the live neighbours in the scores of items the model knows; 0 keeps the model's. */
    knownWeight: number;
    /** Items the model was trained on fewer than this many interactions of get their live scores in full, as new items do; 0: none. */
    weakBelow: number;
    /** 0..1: at most this share of a list's slots goes to new or under-exposed items; 0 turns exploration off. */
    exploreShare: number;
    /** Seeds exploration's picks: the same list gets the same picks on every node. */
    exploreSeed: number;
  };
  security: {
    /**
     * Development mode: prints a generated all-roles key when no master key is set, accepts bare
     * sessionIds on sockets, and makes up the token secret and pseudonym key when they are unset.
     */
    dev: boolean;
    /** A key with every role, not stored anywhere (bootstrap, tests); null: none. */
    masterKey: string | null;
    /** Signs socket tokens; every node needs the same one. Required on Redis unless dev. */
    tokenSecret: string | null;
    /** Longest lifetime a socket token may ask for, and the default one. */
    tokenMaxTtlS: number;
    /** Derives each API key's AWS secret access key (SigV4); null: no SigV4 on shared stores. */
    sigv4Secret: string | null;
    /** Keys the HMAC that pseudonymizes user ids at rest. Required on Redis unless dev; never change it. */
    pseudonymKey: string | null;
    /** `id:base64-of-32-bytes` keys encrypting event payloads and snapshots at rest; the first one writes. */
    encryptionKeys: readonly string[];
    /** Refuse to read unencrypted payloads (once everything written before encryption is gone). */
    encryptionRequired: boolean;
    /** How long a node trusts a key it looked up (revocations through other processes take this long). */
    keyCacheMs: number;
    /** Token buckets: requests per second (and burst) per API key, events per second (and burst) per session. */
    rateKeyPerS: number;
    rateKeyBurst: number;
    rateSessionPerS: number;
    rateSessionBurst: number;
    /** PEM files: HTTPS and WSS when both are set. */
    tlsCert: string | null;
    tlsKey: string | null;
    /** A deletion erases, waits this long for writes in flight on other nodes, and erases again. */
    deletionGraceMs: number;
  };
  /** Scheduled retraining from the event log (src/ops/retrain-jobs.ts), by one node at a time. */
  retrain: {
    /** Retrain this long after the last run; 0: never on a schedule. */
    everyMs: number;
    /** Retrain once this many events came in since the last run; 0: not by events. */
    afterEvents: number;
    /** Share of sessions, the latest, held out to compare the candidate with the live model. */
    holdout: number;
    /** How much lower than the live model's the candidate's HR@20 may be and still be promoted (absolute). */
    margin: number;
    /** A run still going after this many seconds is stopped (failed). */
    budgetS: number;
  };
  reducer: ReducerConfig;
}

export const defaultConfig: AttuneConfig = {
  host: '0.0.0.0',
  port: 8080,
  modelDir: null,
  modelPollMs: 3000,
  dataDir: 'var',
  experiment: null,
  candidateModelDir: null,
  demoCatalog: true,
  importDir: null,
  pushSize: 20,
  logLevel: 'info',
  actors: { idleMs: 60_000, passivateMs: 240_000, snapshotEvery: 50, logKeep: 1000, dedupWindowMs: 15 * 60_000 },
  scoring: { timeoutMs: 50, maxBatch: 64, intraOpThreads: 1 },
  http: { bodyLimitBytes: 256 * 1024 },
  redis: { url: null, cluster: [], password: null, tlsCa: null },
  cluster: { nodeId: null, shardCount: 256, leaseTtlMs: 5000, peerUrl: null, forwardTimeoutMs: 1000 },
  trends: { popularHalfLifeMs: 7 * 24 * 3600_000, trendingHalfLifeMs: 3600_000 },
  segments: { count: 8, refreshMs: 60_000 },
  cache: { enabled: true, localMax: 10_000, freshMs: 2000, staleMs: 60_000, lockWaitMs: 250, catalogPollMs: 250 },
  online: { attributionWindowMs: 30 * 60_000, flushMs: 5000, maxLists: 100_000 },
  live: { enabled: true, shareMs: 200, knownWeight: 0, weakBelow: 0, exploreShare: 0, exploreSeed: 0 },
  security: {
    dev: false,
    masterKey: null,
    tokenSecret: null,
    tokenMaxTtlS: 3600,
    sigv4Secret: null,
    pseudonymKey: null,
    encryptionKeys: [],
    encryptionRequired: false,
    keyCacheMs: 5000,
    rateKeyPerS: 2000,
    rateKeyBurst: 4000,
    rateSessionPerS: 20,
    rateSessionBurst: 60,
    tlsCert: null,
    tlsKey: null,
    deletionGraceMs: 1000,
  },
  retrain: { everyMs: 7 * 86_400_000, afterEvents: 0, holdout: 0.1, margin: 0.01, budgetS: 240 },
  reducer: defaultReducerConfig,
};

/** A partial config, as tests and embedders pass it; nested groups merge key by key. */
export type ConfigOverrides = Partial<Omit<AttuneConfig, 'actors' | 'scoring' | 'http' | 'redis' | 'cluster' | 'trends' | 'segments' | 'cache' | 'online' | 'live' | 'security' | 'retrain' | 'reducer'>> & {
  retrain?: Partial<AttuneConfig['retrain']>;
  redis?: Partial<AttuneConfig['redis']>;
  cluster?: Partial<AttuneConfig['cluster']>;
  actors?: Partial<AttuneConfig['actors']>;
  scoring?: Partial<AttuneConfig['scoring']>;
  http?: Partial<AttuneConfig['http']>;
  trends?: Partial<AttuneConfig['trends']>;
  segments?: Partial<AttuneConfig['segments']>;
  cache?: Partial<AttuneConfig['cache']>;
  online?: Partial<AttuneConfig['online']>;
  live?: Partial<AttuneConfig['live']>;
  security?: Partial<AttuneConfig['security']>;
  reducer?: Partial<ReducerConfig>;
};

/** The directory import jobs read from: --import-dir, else `imports` in the data directory. */
export function importDirOf(config: Pick<AttuneConfig, 'importDir' | 'dataDir'>): string {
  return config.importDir ?? join(config.dataDir, 'imports');
}

/**
 * Where a development node listens when no host is given: its secrets are well known and it
 * prints a key with every role, so it must not be reachable from other machines by default.
 */
export const DEV_HOST = '127.0.0.1';

/** A partial config over the defaults, checked as a whole: a ConfigError when its settings contradict each other. */
export function mergeConfig(overrides: ConfigOverrides = {}): AttuneConfig {
  const base = defaultConfig;
  const dev = overrides.security?.dev ?? base.security.dev;
  const config: AttuneConfig = {
    ...base,
    host: dev ? DEV_HOST : base.host,
    ...overrides,
    actors: { ...base.actors, ...overrides.actors },
    scoring: { ...base.scoring, ...overrides.scoring },
    http: { ...base.http, ...overrides.http },
    redis: { ...base.redis, ...overrides.redis },
    cluster: { ...base.cluster, ...overrides.cluster },
    trends: { ...base.trends, ...overrides.trends },
    segments: { ...base.segments, ...overrides.segments },
    cache: { ...base.cache, ...overrides.cache },
    online: { ...base.online, ...overrides.online },
    live: { ...base.live, ...overrides.live },
    security: { ...base.security, ...overrides.security },
    retrain: { ...base.retrain, ...overrides.retrain },
    reducer: { ...base.reducer, ...overrides.reducer },
  };
  checkConfig(config);
  return config;
}

/** The checks no single option can make: settings that are each valid but not together. */
function checkConfig(config: AttuneConfig): void {
  // A put of the most events allowed must fit the session's bucket, or it could never pass.
  if (config.security.rateSessionBurst < EVENTS_PER_PUT_MAX) throw new ConfigError(`the session rate burst must be at least ${EVENTS_PER_PUT_MAX} (one full put), got ${config.security.rateSessionBurst}`);
  // A CA for a plain redis:// URL would send the password in clear while looking secured.
  if (config.redis.tlsCa !== null && config.redis.url?.startsWith('redis://') === true) throw new ConfigError('--redis-tls-ca needs a rediss:// URL (TLS); the URL given is redis://');
  if (config.security.encryptionRequired && config.security.encryptionKeys.length === 0) throw new ConfigError('--encryption-required needs --encryption-keys');
  if ((config.security.tlsCert === null) !== (config.security.tlsKey === null)) throw new ConfigError('--tls-cert and --tls-key go together');
  if (config.candidateModelDir !== null && config.experiment === null) throw new ConfigError('--candidate-model needs --experiment candidate=N% (the share of users it serves)');
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The environment a process was started with, or what a test passes instead. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Reads an option's text; `source` names where it came from (`--port`, `ATTUNE_PORT`) for the error. */
export type Parser = (raw: string, source: string) => unknown;

/**
 * One option of a command line, in the table form every command uses: its flag, the environment
 * variables that set it too (the first listed wins), its help line, how its text is read and
 * where the value goes in the command's `T`. `value` names the value in usage lines (FILE, URL).
 */
export interface Option<T> {
  flag: string;
  env: readonly string[];
  help: string;
  parse: Parser;
  set: (target: T, value: never) => void;
  value?: string;
}

const int =
  (min: number, max: number): Parser =>
  (raw, source) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${source} must be an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
export const text: Parser = (raw, source) => {
  if (raw === '') throw new ConfigError(`${source} must not be empty`);
  return raw;
};
const decimal =
  (min: number, max: number): Parser =>
  (raw, source) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new ConfigError(`${source} must be a number from ${min} to ${max}, got "${raw}"`);
    return n;
  };
const TRUE_WORDS = ['1', 'true', 'yes', 'on'];
const FALSE_WORDS = ['0', 'false', 'no', 'off'];
const BOOLEAN_WORDS = [...TRUE_WORDS, ...FALSE_WORDS];
const peerUrl: Parser = (raw, source) => {
  const parsed = URL.canParse(raw) ? new URL(raw) : null;
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.pathname !== '/' || parsed.search !== '' || parsed.username !== '') {
    throw new ConfigError(`${source} must be an http:// or https:// URL of a node, without a path, got "${raw}"`);
  }
  return raw.replace(/\/$/, '');
};

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** A duration with its unit (`7d`, `12h`, `30m`, `45s`, `500ms`) in ms; `0` or `off` is 0 (never). */
export const duration: Parser = (raw, source) => {
  if (raw === '0' || raw === 'off') return 0;
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(raw);
  const ms = match === null ? Number.NaN : Number(match[1]) * DURATION_UNITS_MS[match[2]];
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 3650 * 86_400_000) throw new ConfigError(`${source} must be a duration such as 7d, 12h, 30m, 45s or 500ms (at most 3650d), or 0 / off, got "${raw}"`);
  return ms;
};
const share =
  (min: number, max: number, minInclusive: boolean): Parser =>
  (raw, source) => {
    const n = raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(n) || n > max || (minInclusive ? n < min : n <= min)) throw new ConfigError(`${source} must be a number from ${min}${minInclusive ? '' : ' (exclusive)'} to ${max}, got "${raw}"`);
    return n;
  };

export const bool: Parser = (raw, source) => {
  if (TRUE_WORDS.includes(raw)) return true;
  if (FALSE_WORDS.includes(raw)) return false;
  throw new ConfigError(`${source} must be true or false, got "${raw}"`);
};
const experiment: Parser = (raw, source) => {
  const parsed = parseExperiment(raw);
  if ('error' in parsed) throw new ConfigError(`${source} ${parsed.error}, got "${raw}"`);
  return parsed;
};
const oneOf =
  (values: readonly string[]): Parser =>
  (raw, source) => {
    if (!values.includes(raw)) throw new ConfigError(`${source} must be one of ${values.join(', ')}, got "${raw}"`);
    return raw;
  };

/** A path the process can read now: a typo is a config error at start, not a failure when the file is first needed. */
export function readablePath(raw: string, source: string): string {
  text(raw, source);
  try {
    accessSync(raw, constants.R_OK);
  } catch (err) {
    throw new ConfigError(`${source}: cannot read ${raw}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return raw;
}

const secret =
  (minLength: number): Parser =>
  (raw, source) => {
    if (raw.length < minLength) throw new ConfigError(`${source} must be at least ${minLength} characters`);
    return raw;
  };
/** `id:base64` pairs; each key must decode to 32 bytes (AES-256). */
const encryptionKeys: Parser = (raw, source) => {
  const keys = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (keys.length === 0) throw new ConfigError(`${source} must name at least one key`);
  const ids = new Set<string>();
  for (const key of keys) {
    const colon = key.indexOf(':');
    const id = key.slice(0, colon);
    if (colon < 1 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new ConfigError(`${source}: each key must be id:base64 with an id of letters, digits, _ or -`);
    if (Buffer.from(key.slice(colon + 1), 'base64').length !== 32) throw new ConfigError(`${source}: key "${id}" must be 32 bytes in base64`);
    if (ids.has(id)) throw new ConfigError(`${source}: key id "${id}" appears twice`);
    ids.add(id);
  }
  return keys;
};

export function option<V, T = ConfigOverrides>(flag: string, env: readonly string[], help: string, parse: Parser, set: (target: T, value: V) => void, value?: string): Option<T> {
  return { flag, env, help, parse, set: set as (target: T, value: never) => void, ...(value === undefined ? {} : { value }) };
}

/** Every setting of `attune serve`; other commands take some of these too (the cluster's Redis, its keys). */
export const OPTIONS: readonly Option<ConfigOverrides>[] = [
  option<number>('port', ['ATTUNE_PORT', 'PORT'], 'HTTP and socket port (0 picks a free one)', int(0, 65535), (o, v) => (o.port = v)),
  option<string>('host', ['ATTUNE_HOST'], 'interface to listen on (default 0.0.0.0; 127.0.0.1 with --dev)', text, (o, v) => (o.host = v)),
  option<string>('model', ['ATTUNE_MODEL_DIR'], 'model bundle directory (default: train the demo model)', text, (o, v) => (o.modelDir = v)),
  option<{ candidateShare: number }>('experiment', ['ATTUNE_EXPERIMENT'], 'candidate=N%: serve N% of the users (by a stable hash) with the candidate model, the rest with the live one', experiment, (o, v) => (o.experiment = v)),
  option<string>('candidate-model', ['ATTUNE_CANDIDATE_MODEL_DIR'], 'the candidate\'s bundle directory for --experiment (default: the model registry\'s newest candidate)', text, (o, v) => (o.candidateModelDir = v)),
  option<number>('model-poll-ms', ['ATTUNE_MODEL_POLL_MS'], 'ms between checks of the model registry\'s live version (changes are announced at once; this is the safety net)', int(100, 3_600_000), (o, v) => (o.modelPollMs = v)),
  option<string>('data-dir', ['ATTUNE_DATA_DIR'], 'directory for generated files', text, (o, v) => (o.dataDir = v)),
  option<string>('import-dir', ['ATTUNE_IMPORT_DIR'], 'import jobs (POST /v1/import-jobs) read files only under this directory (default <data-dir>/imports)', text, (o, v) => (o.importDir = v)),
  option<boolean>('demo-catalog', ['ATTUNE_DEMO_CATALOG'], 'load the demo catalog at start', bool, (o, v) => (o.demoCatalog = v)),
  option<number>('push-size', ['ATTUNE_PUSH_SIZE'], 'items per recommendations push', int(1, 500), (o, v) => (o.pushSize = v)),
  option<string>('log-level', ['ATTUNE_LOG_LEVEL'], 'silent|error|warn|info|debug', oneOf(['silent', 'error', 'warn', 'info', 'debug']), (o, v) => (o.logLevel = v as AttuneConfig['logLevel'])),
  option<number>('idle-ms', ['ATTUNE_IDLE_MS'], 'ms without events before an actor goes idle', int(1, 86_400_000), (o, v) => (o.actors = { ...o.actors, idleMs: v })),
  option<number>('passivate-ms', ['ATTUNE_PASSIVATE_MS'], 'ms idle before an actor is snapshotted and dropped', int(1, 86_400_000), (o, v) => (o.actors = { ...o.actors, passivateMs: v })),
  option<number>('snapshot-every', ['ATTUNE_SNAPSHOT_EVERY'], 'events between write-behind snapshots', int(1, 1_000_000), (o, v) => (o.actors = { ...o.actors, snapshotEvery: v })),
  option<number>('log-keep', ['ATTUNE_LOG_KEEP'], 'log entries per key kept for replay once a snapshot covers them', int(0, 100_000_000), (o, v) => (o.actors = { ...o.actors, logKeep: v })),
  option<number>('dedup-window-ms', ['ATTUNE_DEDUP_WINDOW_MS'], 'how long a client event id is remembered: a resend within it is stored once', int(1000, 7 * 86_400_000), (o, v) => (o.actors = { ...o.actors, dedupWindowMs: v })),
  option<number>('score-timeout-ms', ['ATTUNE_SCORE_TIMEOUT_MS'], 'inference time budget before the popularity fallback', int(1, 60_000), (o, v) => (o.scoring = { ...o.scoring, timeoutMs: v })),
  option<number>('score-max-batch', ['ATTUNE_SCORE_MAX_BATCH'], 'most rows per inference call', int(1, 4096), (o, v) => (o.scoring = { ...o.scoring, maxBatch: v })),
  option<number>('score-threads', ['ATTUNE_SCORE_THREADS'], 'onnxruntime intra-op threads', int(1, 64), (o, v) => (o.scoring = { ...o.scoring, intraOpThreads: v })),
  option<number>('body-limit', ['ATTUNE_BODY_LIMIT'], 'largest HTTP body in bytes', int(1024, 64 * 1024 * 1024), (o, v) => (o.http = { ...o.http, bodyLimitBytes: v })),
  option<string>('redis', ['ATTUNE_REDIS_URL'], 'redis:// or rediss:// URL: run on Redis (stores, shards, cross-node pushes)', text, (o, v) => (o.redis = { ...o.redis, url: v })),
  option<string>('redis-cluster', ['ATTUNE_REDIS_CLUSTER'], 'comma-separated Redis Cluster seeds host:port (instead of --redis)', text, (o, v) => (o.redis = { ...o.redis, cluster: v.split(',').map((s) => s.trim()).filter((s) => s !== '') })),
  option<string>('redis-password', ['ATTUNE_REDIS_PASSWORD'], 'Redis password (or put it in the URL)', text, (o, v) => (o.redis = { ...o.redis, password: v })),
  option<string>('node-id', ['ATTUNE_NODE_ID'], 'this node\'s id in the cluster (unique per process)', text, (o, v) => (o.cluster = { ...o.cluster, nodeId: v })),
  option<number>('shards', ['ATTUNE_SHARDS'], 'shard count, fixed for the life of the data', int(1, 16384), (o, v) => (o.cluster = { ...o.cluster, shardCount: v })),
  option<number>('lease-ttl-ms', ['ATTUNE_LEASE_TTL_MS'], 'shard lease TTL: how long a dead node\'s shards wait before takeover', int(300, 600_000), (o, v) => (o.cluster = { ...o.cluster, leaseTtlMs: v })),
  option<string>('peer-url', ['ATTUNE_PEER_URL'], 'the http(s):// URL other nodes forward events to (default: this node\'s own URL)', peerUrl, (o, v) => (o.cluster = { ...o.cluster, peerUrl: v })),
  option<number>('forward-timeout-ms', ['ATTUNE_FORWARD_TIMEOUT_MS'], 'how long to wait for a key\'s owner to take forwarded events', int(50, 60_000), (o, v) => (o.cluster = { ...o.cluster, forwardTimeoutMs: v })),
  option<number>('popular-half-life-ms', ['ATTUNE_POPULAR_HALF_LIFE_MS'], 'half-life of the live popular counts', int(1, 10 * 365 * 86_400_000), (o, v) => (o.trends = { ...o.trends, popularHalfLifeMs: v })),
  option<number>('trending-half-life-ms', ['ATTUNE_TRENDING_HALF_LIFE_MS'], 'half-life of the live trending counts', int(1, 365 * 86_400_000), (o, v) => (o.trends = { ...o.trends, trendingHalfLifeMs: v })),
  option<number>('segments', ['ATTUNE_SEGMENTS'], 'number of user segments', int(1, 1000), (o, v) => (o.segments = { ...o.segments, count: v })),
  option<number>('segments-refresh-ms', ['ATTUNE_SEGMENTS_REFRESH_MS'], 'how old segments may get before a request recomputes them', int(0, 86_400_000), (o, v) => (o.segments = { ...o.segments, refreshMs: v })),
  option<boolean>('cache', ['ATTUNE_CACHE'], 'cache lists for keys with no live actor on this node, and related items (false: compute every time)', bool, (o, v) => (o.cache = { ...o.cache, enabled: v })),
  option<number>('cache-local-max', ['ATTUNE_CACHE_LOCAL_MAX'], 'entries per cache kept in each node\'s memory', int(1, 10_000_000), (o, v) => (o.cache = { ...o.cache, localMax: v })),
  option<number>('cache-fresh-ms', ['ATTUNE_CACHE_FRESH_MS'], 'ms a cached list is served without a refresh', int(1, 86_400_000), (o, v) => (o.cache = { ...o.cache, freshMs: v })),
  option<number>('cache-stale-ms', ['ATTUNE_CACHE_STALE_MS'], 'ms after that a stale list is served while one refresh runs', int(0, 86_400_000), (o, v) => (o.cache = { ...o.cache, staleMs: v })),
  option<number>('cache-lock-wait-ms', ['ATTUNE_CACHE_LOCK_WAIT_MS'], 'ms a node with nothing cached waits for another node\'s computation', int(0, 60_000), (o, v) => (o.cache = { ...o.cache, lockWaitMs: v })),
  option<number>('catalog-poll-ms', ['ATTUNE_CATALOG_POLL_MS'], 'ms between checks for catalog changes made through other nodes', int(10, 60_000), (o, v) => (o.cache = { ...o.cache, catalogPollMs: v })),
  option<number>('attribution-window-ms', ['ATTUNE_ATTRIBUTION_WINDOW_MS'], 'an event without a recommendationId is credited to the last list shown to its session within this many ms', int(1000, 7 * 86_400_000), (o, v) => (o.online = { ...o.online, attributionWindowMs: v })),
  option<number>('online-metrics-flush-ms', ['ATTUNE_ONLINE_METRICS_FLUSH_MS'], 'ms between a node\'s additions of its online-metrics counts to the shared store', int(10, 600_000), (o, v) => (o.online = { ...o.online, flushMs: v })),
  option<boolean>('live-updates', ['ATTUNE_LIVE_UPDATES'], 'learn between retrains: content neighbours of new items, co-occurrences from events, exploration (false: the model alone)', bool, (o, v) => (o.live = { ...o.live, enabled: v })),
  option<number>('live-share-ms', ['ATTUNE_LIVE_SHARE_MS'], 'ms between batches of this node\'s co-occurrences sent to the other nodes', int(10, 60_000), (o, v) => (o.live = { ...o.live, shareMs: v })),
  option<number>('live-known-weight', ['ATTUNE_LIVE_KNOWN_WEIGHT'], 'weight of live neighbours in the scores of items the model knows (0: the model\'s scores stay)', decimal(0, 100), (o, v) => (o.live = { ...o.live, knownWeight: v })),
  option<number>('live-weak-below', ['ATTUNE_LIVE_WEAK_BELOW'], 'items the model was trained on fewer than this many interactions of get their live neighbour scores in full, as new items do (0: none)', int(0, 1_000_000_000), (o, v) => (o.live = { ...o.live, weakBelow: v })),
  option<number>('explore-share', ['ATTUNE_EXPLORE_SHARE'], 'at most this share (0..1) of a list\'s slots goes to new or under-exposed items (0: off)', decimal(0, 1), (o, v) => (o.live = { ...o.live, exploreShare: v })),
  option<number>('explore-seed', ['ATTUNE_EXPLORE_SEED'], 'seeds which items and slots exploration picks for a list', int(0, 2 ** 31 - 1), (o, v) => (o.live = { ...o.live, exploreSeed: v })),
  option<number>('attribution-max-lists', ['ATTUNE_ATTRIBUTION_MAX_LISTS'], 'lists (and sessions) a node remembers for attribution, about 1 KB each; the least recently used are forgotten', int(100, 100_000_000), (o, v) => (o.online = { ...o.online, maxLists: v })),
  option<boolean>('dev', ['ATTUNE_DEV'], 'development mode: a generated key printed at start, bare sessionIds on sockets, made-up secrets', bool, (o, v) => (o.security = { ...o.security, dev: v })),
  option<string>('master-key', ['ATTUNE_MASTER_KEY'], 'a key with every role, kept only in config (at least 32 characters)', secret(32), (o, v) => (o.security = { ...o.security, masterKey: v })),
  option<string>('token-secret', ['ATTUNE_TOKEN_SECRET'], 'signs socket tokens, the same on every node (at least 32 characters)', secret(32), (o, v) => (o.security = { ...o.security, tokenSecret: v })),
  option<number>('token-max-ttl-s', ['ATTUNE_TOKEN_MAX_TTL_S'], 'longest (and default) socket token lifetime in seconds', int(10, 7 * 86_400), (o, v) => (o.security = { ...o.security, tokenMaxTtlS: v })),
  option<string>('sigv4-secret', ['ATTUNE_SIGV4_SECRET'], 'derives each API key\'s AWS credentials for the Personalize-compatible API, the same on every node (at least 32 characters)', secret(32), (o, v) => (o.security = { ...o.security, sigv4Secret: v })),
  option<string>('pseudonym-key', ['ATTUNE_PSEUDONYM_KEY'], 'keys the HMAC of user ids at rest, the same on every node, never changed (at least 32 characters)', secret(32), (o, v) => (o.security = { ...o.security, pseudonymKey: v })),
  option<string[]>('encryption-keys', ['ATTUNE_ENCRYPTION_KEYS'], 'comma-separated id:base64 AES-256 keys for payloads and snapshots at rest; the first writes', encryptionKeys, (o, v) => (o.security = { ...o.security, encryptionKeys: v })),
  option<boolean>('encryption-required', ['ATTUNE_ENCRYPTION_REQUIRED'], 'refuse to read unencrypted payloads and snapshots (with --encryption-keys)', bool, (o, v) => (o.security = { ...o.security, encryptionRequired: v })),
  option<number>('key-cache-ms', ['ATTUNE_KEY_CACHE_MS'], 'ms a node trusts an API key it looked up', int(0, 600_000), (o, v) => (o.security = { ...o.security, keyCacheMs: v })),
  option<number>('rate-key-per-s', ['ATTUNE_RATE_KEY_PER_S'], 'HTTP requests per second per API key (token bucket, per node)', int(1, 10_000_000), (o, v) => (o.security = { ...o.security, rateKeyPerS: v })),
  option<number>('rate-key-burst', ['ATTUNE_RATE_KEY_BURST'], 'burst of HTTP requests per API key', int(1, 10_000_000), (o, v) => (o.security = { ...o.security, rateKeyBurst: v })),
  option<number>('rate-session-per-s', ['ATTUNE_RATE_SESSION_PER_S'], 'events per second per session (token bucket, per node)', int(1, 1_000_000), (o, v) => (o.security = { ...o.security, rateSessionPerS: v })),
  option<number>('rate-session-burst', ['ATTUNE_RATE_SESSION_BURST'], `burst of events per session (at least ${EVENTS_PER_PUT_MAX}: one full put)`, int(EVENTS_PER_PUT_MAX, 1_000_000), (o, v) => (o.security = { ...o.security, rateSessionBurst: v })),
  option<string>('tls-cert', ['ATTUNE_TLS_CERT'], 'PEM certificate (chain) file: serve HTTPS and WSS (with --tls-key)', readablePath, (o, v) => (o.security = { ...o.security, tlsCert: v })),
  option<string>('tls-key', ['ATTUNE_TLS_KEY'], 'PEM private key file for --tls-cert', readablePath, (o, v) => (o.security = { ...o.security, tlsKey: v })),
  option<number>('deletion-grace-ms', ['ATTUNE_DELETION_GRACE_MS'], 'ms a deletion waits for writes in flight before erasing again', int(0, 60_000), (o, v) => (o.security = { ...o.security, deletionGraceMs: v })),
  option<number>('retrain-every', ['ATTUNE_RETRAIN_EVERY'], 'retrain from the event log this long after the last run (7d, 12h, 30m; 0 or off: never on a schedule)', duration, (o, v) => (o.retrain = { ...o.retrain, everyMs: v })),
  option<number>('retrain-after-events', ['ATTUNE_RETRAIN_AFTER_EVENTS'], 'retrain once this many events came in since the last run (0: not by events)', int(0, 1_000_000_000_000), (o, v) => (o.retrain = { ...o.retrain, afterEvents: v })),
  option<number>('retrain-holdout', ['ATTUNE_RETRAIN_HOLDOUT'], 'share of sessions, the latest, held out to compare a retrained model with the live one', share(0, 0.5, false), (o, v) => (o.retrain = { ...o.retrain, holdout: v })),
  option<number>('retrain-margin', ['ATTUNE_RETRAIN_MARGIN'], 'how much lower (absolute) a retrained model\'s held-out HR@20 may be than the live model\'s and still be promoted', share(0, 1, true), (o, v) => (o.retrain = { ...o.retrain, margin: v })),
  option<number>('retrain-budget-s', ['ATTUNE_RETRAIN_BUDGET_S'], 'seconds a retraining run may take before it is stopped', int(1, 86_400), (o, v) => (o.retrain = { ...o.retrain, budgetS: v })),
  option<string>('redis-tls-ca', ['ATTUNE_REDIS_TLS_CA'], 'PEM file of the CA that signed Redis\'s certificate (rediss://)', readablePath, (o, v) => (o.redis = { ...o.redis, tlsCa: v })),
];

/**
 * Reads `options` into `target`: first the environment, then `--flag value`, `--flag=value` and
 * bare switches (a boolean option given alone is true) from `argv`, the later winning. Returns
 * the other arguments (an error unless `takesArguments`) and the flags given on the command
 * line. `help` is where an unknown option is pointed to (`attune help`).
 */
export function parseOptions<T>(options: readonly Option<T>[], target: T, argv: readonly string[], env: Environment, help: string, takesArguments = false): { positionals: string[]; given: ReadonlySet<string> } {
  for (const spec of options) {
    for (const name of [...spec.env].reverse()) {
      const raw = env[name];
      if (raw !== undefined) spec.set(target, spec.parse(raw, name) as never);
    }
  }
  const positionals: string[] = [];
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = options.find((o) => o.flag === name);
    if (!spec) throw new ConfigError(`unknown option --${name} (see ${help})`);
    let raw: string | undefined;
    if (eq !== -1) raw = arg.slice(eq + 1);
    // A switch takes the next argument only when it says true or false: anything else is the command's.
    else if (spec.parse === bool) raw = BOOLEAN_WORDS.includes(argv[i + 1]) ? argv[++i] : 'true';
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) raw = argv[++i];
    if (raw === undefined || raw === '') throw new ConfigError(`--${name} needs a value`);
    spec.set(target, spec.parse(raw, `--${name}`) as never);
    given.add(name);
  }
  if (!takesArguments && positionals.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  return { positionals, given };
}

/** The config from the environment (the process's unless given) and `--flag value` / `--flag=value` arguments, over the defaults. */
export function loadConfig(argv: readonly string[], env: Environment = processEnvironment()): AttuneConfig {
  const overrides: ConfigOverrides = {};
  parseOptions(OPTIONS, overrides, argv, env, 'attune help');
  // A model of one's own comes with its own catalog: the demo items only when asked for.
  if (overrides.modelDir !== undefined && overrides.demoCatalog === undefined) overrides.demoCatalog = false;
  return mergeConfig(overrides);
}

/** The environment a command reads when it is not given one: the process's. */
export function processEnvironment(): Environment {
  return process.env;
}

export function optionsHelp(): string {
  return OPTIONS.map((o) => `  --${o.flag.padEnd(18)} ${o.env.join(', ').padEnd(26)} ${o.help}`).join('\n');
}
