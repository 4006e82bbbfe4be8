import { AttuneError } from '../errors.js';
import type { LiveChange, ModelEntry, ModelRegistry, ModelState, NewModelEntry } from './types.js';

/** Registry order: oldest registration first, ties by version. */
export function byRegistration(a: ModelEntry, b: ModelEntry): number {
  return a.registeredAt - b.registeredAt || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0);
}

export function modelNotFound(version: string): AttuneError {
  return new AttuneError('MODEL_NOT_FOUND', `no model ${version} in the registry`);
}

export function modelExists(version: string): AttuneError {
  return new AttuneError('MODEL_EXISTS', `model ${version} is registered already`);
}

/** The refusal of a transition the entry's state does not allow, in words an operator can act on. */
export function modelStage(what: 'promote' | 'retire' | 'rollback' | 'bootstrap', version: string | null, state: ModelState | null): AttuneError {
  if (what === 'promote') return new AttuneError('MODEL_STAGE', `model ${version} is live already`);
  if (what === 'bootstrap') return new AttuneError('MODEL_STAGE', `a version is live already (${version})`);
  if (what === 'retire') {
    return state === 'live'
      ? new AttuneError('MODEL_STAGE', `model ${version} is live: promote another version or roll back instead`)
      : new AttuneError('MODEL_STAGE', `model ${version} is retired already`);
  }
  return version === null
    ? new AttuneError('MODEL_STAGE', 'no model is live: nothing to roll back')
    : new AttuneError('MODEL_STAGE', `model ${version} was the first live version: there is no earlier one to roll back to`);
}

/** The registry of a single node (the embedded default); same contract as the Redis one. */
export class MemoryModelRegistry implements ModelRegistry {
  private readonly entries = new Map<string, ModelEntry>();
  private liveVersion: string | null = null;

  async register(entry: NewModelEntry): Promise<ModelEntry> {
    if (this.entries.has(entry.version)) throw modelExists(entry.version);
    const stored: ModelEntry = { ...structuredClone(entry), state: 'candidate', promotedAt: null, retiredAt: null, previousLive: null };
    this.entries.set(entry.version, stored);
    return structuredClone(stored);
  }

  async get(version: string): Promise<ModelEntry | null> {
    const entry = this.entries.get(version);
    return entry === undefined ? null : structuredClone(entry);
  }

  async list(): Promise<ModelEntry[]> {
    return [...this.entries.values()].map((entry) => structuredClone(entry)).sort(byRegistration);
  }

  async live(): Promise<ModelEntry | null> {
    return this.liveVersion === null ? null : this.get(this.liveVersion);
  }

  async promote(version: string, at: number, options: { ifNoneLive?: boolean } = {}): Promise<LiveChange> {
    const target = this.entries.get(version);
    if (target === undefined) throw modelNotFound(version);
    if (target.state === 'live') throw modelStage('promote', version, target.state);
    if (options.ifNoneLive === true && this.liveVersion !== null) throw modelStage('bootstrap', this.liveVersion, 'live');
    const previous = this.demoteLive(at);
    Object.assign(target, { state: 'live', promotedAt: at, previousLive: previous?.version ?? null });
    this.liveVersion = version;
    return { live: structuredClone(target), previous: previous === null ? null : structuredClone(previous) };
  }

  async rollback(at: number): Promise<LiveChange> {
    const current = this.liveVersion === null ? undefined : this.entries.get(this.liveVersion);
    if (current === undefined) throw modelStage('rollback', null, null);
    const target = current.previousLive === null ? undefined : this.entries.get(current.previousLive);
    if (target === undefined) throw modelStage('rollback', current.version, current.state);
    this.demoteLive(at);
    // Its previousLive stays: a second rollback goes one further back.
    Object.assign(target, { state: 'live', promotedAt: at });
    this.liveVersion = target.version;
    return { live: structuredClone(target), previous: structuredClone(current) };
  }

  async retire(version: string, at: number): Promise<ModelEntry> {
    const entry = this.entries.get(version);
    if (entry === undefined) throw modelNotFound(version);
    if (entry.state !== 'candidate') throw modelStage('retire', version, entry.state);
    Object.assign(entry, { state: 'retired', retiredAt: at });
    return structuredClone(entry);
  }

  private demoteLive(at: number): ModelEntry | null {
    const current = this.liveVersion === null ? undefined : this.entries.get(this.liveVersion);
    if (current === undefined) return null;
    Object.assign(current, { state: 'retired', retiredAt: at });
    this.liveVersion = null;
    return current;
  }
}
