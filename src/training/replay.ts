import type { InteractionEntry } from '../session/events.js';
import { initialState, reduce, type ReducerConfig, type SessionState } from '../session/state.js';
import { encodeHistory, type EncodedHistory } from '../model/input-encoding.js';
import { toModelInput } from '../model/recommend.js';
import type { Interaction, ModelInput } from '../model/types.js';

/**
 * The serving path's view of a history, reproduced offline: interactions become event-log
 * entries, the actor's pure reducer folds them into a state with the bundle's settings, and
 * `toModelInput` turns the state into the model's input. Training, tuning and evaluation all go
 * through here, so what is evaluated is what is served.
 */

/** One log entry per interaction, as ingestion would have written it (sentAt = the timestamp). */
export function toLogEntry(x: Interaction, n: number): InteractionEntry {
  const entry: InteractionEntry = {
    kind: 'interaction',
    eventId: String(n),
    sessionId: x.userId,
    userId: x.userId,
    eventType: x.eventType,
    itemId: x.itemId,
    sentAt: x.timestamp,
    receivedAt: x.timestamp,
  };
  if (x.eventValue !== undefined) entry.eventValue = x.eventValue;
  return entry;
}

/** The state after a history (in time order), reduced with `config`. */
export function replayState(history: readonly Interaction[], config: ReducerConfig): SessionState {
  let state = initialState();
  history.forEach((x, n) => {
    state = reduce(state, toLogEntry(x, n), config);
  });
  return state;
}

export function replayInput(history: readonly Interaction[], config: ReducerConfig): ModelInput {
  return toModelInput(replayState(history, config));
}

/** A user's sequence in the trainer's compact form (see PreparedData). */
export interface CompactSequence {
  items: ArrayLike<number>;
  times: ArrayLike<number>;
  types: ArrayLike<number>;
}

export interface EncodingShape {
  historyLength: number;
  config: ReducerConfig;
  /** Vocabulary: index -> id (the reducer works on ids). */
  items: readonly string[];
  indexOf: ReadonlyMap<string, number>;
  eventTypes: readonly string[];
}

/**
 * Replays one compact sequence and calls `visit(step, encoded)` with the model input encoded
 * after each of its first `steps` events (step 0 = after the first event).
 */
export function replayEncoded(
  sequence: CompactSequence,
  shape: EncodingShape,
  steps: number,
  visit: (step: number, encoded: EncodedHistory) => void,
): void {
  const { config, items, eventTypes } = shape;
  const encoding = { historyLength: shape.historyLength, padIndex: items.length };
  let state = initialState();
  for (let p = 0; p < steps; p++) {
    const entry: InteractionEntry = {
      kind: 'interaction',
      eventId: String(p),
      sessionId: 's',
      eventType: eventTypes[sequence.types[p]],
      itemId: items[sequence.items[p]],
      sentAt: sequence.times[p],
      receivedAt: sequence.times[p],
    };
    state = reduce(state, entry, config);
    visit(p, encodeHistory(toModelInput(state), shape.indexOf, encoding));
  }
}
