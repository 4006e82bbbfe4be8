import { Packr } from 'msgpackr';
import { upgradeState, type SessionState, type StoredSessionState } from './state.js';

/** A snapshot as the snapshot store keeps it. */
export interface StoredSnapshot {
  key: string;
  lastEventId: string | null;
  /** msgpackr bytes of the actor snapshot (an ActorSnapshot). */
  bytes: Uint8Array;
  /**
   * The fencing epoch of the shard lease it was written under: set by the store on a fenced
   * put and present on reads of such a snapshot; ignored when given to `put`.
   */
  epoch?: number;
}

/** What a passivated actor leaves behind: enough to rebuild it, given the log after `lastEventId`. */
export interface ActorSnapshot {
  v: 1;
  key: string;
  userId: string | null;
  state: SessionState;
}

/** A v1 snapshot as written by any version: its state may predate some fields. */
type StoredActorSnapshot = Omit<ActorSnapshot, 'state'> & { state: StoredSessionState };

// Plain maps and arrays only: snapshots must decode on any node and any later version.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeSnapshot(snapshot: ActorSnapshot): StoredSnapshot {
  return { key: snapshot.key, lastEventId: snapshot.state.lastEventId, bytes: packr.pack(snapshot) };
}

/** Decodes a v1 snapshot; state fields added since it was written come back empty. */
export function decodeSnapshot(stored: StoredSnapshot): ActorSnapshot {
  const decoded: unknown = packr.unpack(stored.bytes);
  if (!isActorSnapshot(decoded)) throw new Error(`snapshot of ${stored.key} is not a v1 actor snapshot`);
  return { ...decoded, state: upgradeState(decoded.state) };
}

function isActorSnapshot(value: unknown): value is StoredActorSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.v === 1 && typeof v.key === 'string' && typeof v.state === 'object' && v.state !== null;
}
