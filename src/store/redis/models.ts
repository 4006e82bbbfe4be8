import { byRegistration, modelExists, modelNotFound, modelStage } from '../models.js';
import { MODEL_STATES, type LiveChange, type ModelEntry, type ModelLineage, type ModelRegistry, type ModelState, type NewModelEntry } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeyspace } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/*
 * Three keys under one hash tag, so every script below touches one slot:
 *   entries: version -> JSON of what never changes (version, dir, registeredAt, lineage, metrics)
 *   states:  version -> JSON {state, promotedAt?, retiredAt?, previousLive?} (absent: null)
 *   live:    the live version
 * Scripts only decode and encode the small state JSON; the entries' JSON (metrics with full
 * double precision) is never re-encoded by Lua's cjson, which keeps 14 significant digits.
 */

/** KEYS: entries, states. ARGV: version, entry JSON, state JSON. 0 when the version exists. */
const REGISTER = new LuaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`);

/** KEYS: entries, states. ARGV: a version, or none for every entry. Returns {entries..., '|', states...} pairs. */
const READ = new LuaScript(`
if #ARGV == 1 then
  return {redis.call('HGET', KEYS[1], ARGV[1]) or '', redis.call('HGET', KEYS[2], ARGV[1]) or ''}
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`);

/**
 * KEYS: states, live. ARGV: version, at, '1' to promote only when none is live. The live one (if
 * any) is retired and becomes the target's previousLive. Returns {'ok', previous or ''},
 * {'not-found'}, {'live'} or {'other-live', version}.
 */
const PROMOTE = new LuaScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'not-found'} end
local target = cjson.decode(raw)
if target.state == 'live' then return {'live'} end
local at = tonumber(ARGV[2])
local previous = redis.call('GET', KEYS[2])
if previous and ARGV[3] == '1' then return {'other-live', previous} end
if previous then
  local p = cjson.decode(redis.call('HGET', KEYS[1], previous))
  p.state = 'retired'
  p.retiredAt = at
  redis.call('HSET', KEYS[1], previous, cjson.encode(p))
  target.previousLive = previous
else
  target.previousLive = nil
end
target.state = 'live'
target.promotedAt = at
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(target))
redis.call('SET', KEYS[2], ARGV[1])
return {'ok', previous or ''}
`);

/**
 * KEYS: states, live. ARGV: at. The live one's previousLive becomes live (its own previousLive
 * kept), the live one retired. Returns {'ok', new live, old live}, {'no-live'} or {'no-previous', live}.
 */
const ROLLBACK = new LuaScript(`
local current = redis.call('GET', KEYS[2])
if not current then return {'no-live'} end
local c = cjson.decode(redis.call('HGET', KEYS[1], current))
local praw = c.previousLive and redis.call('HGET', KEYS[1], c.previousLive)
if not praw then return {'no-previous', current} end
local p = cjson.decode(praw)
local at = tonumber(ARGV[1])
c.state = 'retired'
c.retiredAt = at
p.state = 'live'
p.promotedAt = at
redis.call('HSET', KEYS[1], current, cjson.encode(c))
redis.call('HSET', KEYS[1], c.previousLive, cjson.encode(p))
redis.call('SET', KEYS[2], c.previousLive)
return {'ok', c.previousLive, current}
`);

/** KEYS: states. ARGV: version, at. Returns {'ok'}, {'not-found'} or {'stage', state}. */
const RETIRE = new LuaScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'not-found'} end
local s = cjson.decode(raw)
if s.state ~= 'candidate' then return {'stage', s.state} end
s.state = 'retired'
s.retiredAt = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(s))
return {'ok'}
`);

type Fixed = Pick<ModelEntry, 'version' | 'dir' | 'registeredAt' | 'lineage' | 'metrics'>;
type Mutable = Pick<ModelEntry, 'state' | 'promotedAt' | 'retiredAt' | 'previousLive'>;

/** The model registry on Redis: every node and the CLI read and change the same one. */
export class RedisModelRegistry implements ModelRegistry {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keyspace: RedisKeyspace,
  ) {}

  async register(entry: NewModelEntry): Promise<ModelEntry> {
    const fixed: Fixed = { version: entry.version, dir: entry.dir, registeredAt: entry.registeredAt, lineage: entry.lineage, metrics: entry.metrics };
    const state: Mutable = { state: 'candidate', promotedAt: null, retiredAt: null, previousLive: null };
    const done = await this.redis.call('models register', (client) =>
      REGISTER.run(client, [this.keyspace.modelEntries, this.keyspace.modelStates], [entry.version, JSON.stringify(fixed), encodeState(state)]),
    );
    if (done === 0) throw modelExists(entry.version);
    return { ...structuredClone(fixed), ...state };
  }

  async get(version: string): Promise<ModelEntry | null> {
    const reply = await this.redis.call('models get', (client) => READ.run(client, [this.keyspace.modelEntries, this.keyspace.modelStates], [version]));
    const [fixed, state] = reply as [string, string];
    return fixed === '' ? null : parseEntry(version, fixed, state);
  }

  async list(): Promise<ModelEntry[]> {
    const reply = await this.redis.call('models list', (client) => READ.run(client, [this.keyspace.modelEntries, this.keyspace.modelStates], []));
    const [entries, states] = reply as [string[], string[]];
    const stateOf = new Map<string, string>();
    for (let i = 0; i < states.length; i += 2) stateOf.set(states[i], states[i + 1]);
    const out: ModelEntry[] = [];
    for (let i = 0; i < entries.length; i += 2) out.push(parseEntry(entries[i], entries[i + 1], stateOf.get(entries[i]) ?? ''));
    return out.sort(byRegistration);
  }

  async live(): Promise<ModelEntry | null> {
    const version = await this.redis.call('models live', (client) => client.get(this.keyspace.modelLive));
    return version === null ? null : this.get(version);
  }

  async promote(version: string, at: number, options: { ifNoneLive?: boolean } = {}): Promise<LiveChange> {
    const onlyFirst = options.ifNoneLive === true ? '1' : '0';
    const reply = (await this.redis.call('models promote', (client) => PROMOTE.run(client, [this.keyspace.modelStates, this.keyspace.modelLive], [version, at, onlyFirst]))) as string[];
    if (reply[0] === 'not-found') throw modelNotFound(version);
    if (reply[0] === 'live') throw modelStage('promote', version, 'live');
    if (reply[0] === 'other-live') throw modelStage('bootstrap', reply[1], 'live');
    return this.change(version, reply[1] === '' ? null : reply[1]);
  }

  async rollback(at: number): Promise<LiveChange> {
    const reply = (await this.redis.call('models rollback', (client) => ROLLBACK.run(client, [this.keyspace.modelStates, this.keyspace.modelLive], [at]))) as string[];
    if (reply[0] === 'no-live') throw modelStage('rollback', null, null);
    if (reply[0] === 'no-previous') throw modelStage('rollback', reply[1], 'live');
    return this.change(reply[1], reply[2]);
  }

  async retire(version: string, at: number): Promise<ModelEntry> {
    const reply = (await this.redis.call('models retire', (client) => RETIRE.run(client, [this.keyspace.modelStates], [version, at]))) as string[];
    if (reply[0] === 'not-found') throw modelNotFound(version);
    if (reply[0] === 'stage') throw modelStage('retire', version, asState(reply[1]));
    return this.required(version);
  }

  private async change(live: string, previous: string | null): Promise<LiveChange> {
    return { live: await this.required(live), previous: previous === null ? null : await this.required(previous) };
  }

  /** Entries are never deleted: one that a script just changed is there. */
  private async required(version: string): Promise<ModelEntry> {
    const entry = await this.get(version);
    if (entry === null) throw new Error(`model ${version}: stored entry vanished`);
    return entry;
  }
}

/** Nulls are left out: Lua's cjson would turn them into a sentinel, and an absent field reads as nil there. */
function encodeState(state: Mutable): string {
  const out: Record<string, string | number> = { state: state.state };
  if (state.promotedAt !== null) out.promotedAt = state.promotedAt;
  if (state.retiredAt !== null) out.retiredAt = state.retiredAt;
  if (state.previousLive !== null) out.previousLive = state.previousLive;
  return JSON.stringify(out);
}

function asState(value: unknown): ModelState {
  if (typeof value === 'string' && (MODEL_STATES as readonly string[]).includes(value)) return value as ModelState;
  throw new Error(`model registry: stored state ${JSON.stringify(value)} is not one of ${MODEL_STATES.join(', ')}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseEntry(version: string, fixedJson: string, stateJson: string): ModelEntry {
  const fail = (why: string): never => {
    throw new Error(`model ${version}: stored entry is malformed (${why})`);
  };
  const fixed: unknown = JSON.parse(fixedJson);
  const state: unknown = stateJson === '' ? fail('no state') : JSON.parse(stateJson);
  if (!isRecord(fixed) || !isRecord(state)) return fail('not objects');
  if (fixed.version !== version || typeof fixed.dir !== 'string' || typeof fixed.registeredAt !== 'number') fail('version, dir or registeredAt');
  if (!isRecord(fixed.lineage) || !isRecord(fixed.metrics)) fail('lineage or metrics');
  const optionalNumber = (value: unknown, field: string): number | null => (value === undefined ? null : typeof value === 'number' ? value : fail(field));
  return {
    version,
    dir: fixed.dir as string,
    state: asState(state.state),
    registeredAt: fixed.registeredAt as number,
    promotedAt: optionalNumber(state.promotedAt, 'promotedAt'),
    retiredAt: optionalNumber(state.retiredAt, 'retiredAt'),
    previousLive: state.previousLive === undefined ? null : typeof state.previousLive === 'string' ? state.previousLive : fail('previousLive'),
    // Written by register() from a typed entry; read back as written.
    lineage: fixed.lineage as unknown as ModelLineage,
    metrics: fixed.metrics as Record<string, number>,
  };
}
