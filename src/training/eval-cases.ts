import { initialState, reduce, type ReducerConfig, type SessionState } from '../session/state.js';
import { compareIds } from '../model/item-item.js';
import type { Interaction } from '../model/types.js';
import { toLogEntry } from './replay.js';
import type { PreparedData, UserHistory } from './trainer.js';

/*
 * Offline evaluation (issue 3): the cases every protocol scores. Two protocols:
 *  - leave-one-out (s3rec, csv): per user, the last item is the test target (history: all before
 *    it), the second-to-last the validation target; models for both are trained on all but each
 *    user's last two items. Every item is scored and the user's history items are excluded.
 *  - sessions (rsc15, session-rec's protocol): after each click p of a test session the next click
 *    is the target; history items are NOT excluded (session-rec's convention for rsc15).
 * Reported numbers always go through the serving path: history -> log entries -> reduce (the
 * bundle's reducer settings) -> toModelInput -> the ONNX bundle loaded by Scorer. Tuning scores
 * the same inputs with the graph's TypeScript twin (scoreAll), which is much faster.
 */

export type Protocol = 'leave-one-out' | 'sessions';
export type Log = (message: string) => void;

/** One user's (or session's) events and the prefix lengths at which a next item is predicted. */
export interface CaseGroup {
  userId: string;
  events: readonly Interaction[];
  /** Ascending; each p in [1, events.length - 1]: history events[0..p), target events[p]. */
  prefixes: readonly number[];
}

export function caseCount(groups: readonly CaseGroup[]): number {
  return groups.reduce((sum, g) => sum + g.prefixes.length, 0);
}

/** All but the last `drop` interactions of each user. */
export function trainingPart(histories: readonly UserHistory[], drop: number): Interaction[] {
  const out: Interaction[] = [];
  for (const { events } of histories) for (let p = 0; p < events.length - drop; p++) out.push(events[p]);
  return out;
}

/** At most `max` values, evenly spaced: a deterministic sample for tuning. */
export function sample<T>(values: readonly T[], max: number): T[] {
  if (values.length <= max) return [...values];
  const stride = values.length / max;
  return Array.from({ length: max }, (_, i) => values[Math.floor(i * stride)]);
}

/** Calls `visit(index, state)` with the reduced state at each of the group's prefixes. */
export function replayPrefixes(group: CaseGroup, config: ReducerConfig, visit: (index: number, state: SessionState) => void): void {
  let state = initialState();
  let next = 0;
  const last = group.prefixes[group.prefixes.length - 1] ?? 0;
  for (let p = 0; p < last; p++) {
    state = reduce(state, toLogEntry(group.events[p], p), config);
    while (next < group.prefixes.length && group.prefixes[next] === p + 1) visit(next++, state);
  }
}

/** Tuning data: what models are fitted on, and the validation cases that score them. */
export interface TuningFold {
  data: PreparedData;
  groups: CaseGroup[];
}

/** Every item the interaction sets name, sorted. */
export function catalogOf(...sets: (readonly Interaction[])[]): string[] {
  const ids = new Set<string>();
  for (const set of sets) for (const { itemId } of set) ids.add(itemId);
  return [...ids].sort(compareIds);
}
