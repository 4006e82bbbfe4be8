import type { Arm } from '../lib/experiment.js';
import type { LogEntry } from '../session/events.js';
import { categoryWeights, initialState, itemWeights, reduce, type ReducerConfig, type SessionState } from '../session/state.js';
import type { CatalogIndex } from '../model/catalog.js';
import { recommendForState, type ListOptions, type ListScorer } from '../model/recommend.js';
import type { PushRecord } from '../store/types.js';

/**
 * Replay: a key's logged events run again through the pure reducer and a model, one step per
 * event, beside the pushes that were actually recorded. With the model that served them (and
 * an unchanged catalog) every recorded push is reproduced exactly, because the reducer's only
 * clock is the events' own time and scoring is deterministic; with another model or filter it
 * shows how each list would have differed (a what-if).
 */
export interface ReplayInput {
  key: string;
  /** The key's log, oldest first (as `EventLog.read(key, null)` returns it). */
  entries: readonly LogEntry[];
  pushes: readonly PushRecord[];
  scorer: ListScorer;
  catalog: CatalogIndex;
  reducer: ReducerConfig;
  /** Items per list: the server's push size, so lists compare with the recorded pushes. */
  listSize: number;
  options?: ListOptions;
  /** Features shown per step (heaviest first). */
  topFeatures?: number;
}

export interface FeatureWeight {
  name: string;
  weight: number;
  /** Its weight before this event; null when it was not among the state's features. */
  before: number | null;
}

export interface RankedItem {
  itemId: string;
  rank: number;
  /** Its rank in the previous step's list; null when it was not in it. */
  previousRank: number | null;
  score: number;
}

export interface ReplayStep {
  eventId: string;
  kind: LogEntry['kind'];
  eventType: string | null;
  itemId: string | null;
  /** Epoch ms of the event (sentAt); null for a merge. */
  at: number | null;
  /** For a merge: the anonymous session key folded in. */
  mergedFrom: string | null;
  items: FeatureWeight[];
  categories: FeatureWeight[];
  list: RankedItem[];
  /** Whether the list differs from the previous step's (when the server would push). */
  changed: boolean;
  /**
   * The push recorded for this event, if any: its list, the model version and experiment arm that
   * served it, and whether the replayed list equals it.
   */
  recorded: { items: string[]; modelVersion: string; arm: Arm; matches: boolean } | null;
}

export interface ReplayTimeline {
  key: string;
  modelVersion: string;
  steps: ReplayStep[];
  pushes: {
    recorded: number;
    /** Recorded pushes whose cause is one of the replayed events. */
    withEvent: number;
    /** Of those, the ones the replay reproduced exactly. */
    reproduced: number;
  };
}

export async function replayKey(input: ReplayInput): Promise<ReplayTimeline> {
  const top = input.topFeatures ?? 5;
  // The last push per cause: a re-score for the same event (a stock change) replaces the earlier one.
  const pushByCause = new Map<string, PushRecord>();
  for (const push of input.pushes) if (push.cause !== null) pushByCause.set(push.cause, push);
  let state: SessionState = initialState();
  let previous: string[] = [];
  const steps: ReplayStep[] = [];
  for (const entry of input.entries) {
    const before = state;
    state = reduce(state, entry, input.reducer);
    const list = await recommendForState(input.scorer, input.catalog, state.eventCount === 0 ? null : state, input.listSize, input.options ?? {});
    const ids = list.items.map((item) => item.itemId);
    const recorded = pushByCause.get(entry.eventId);
    steps.push({
      eventId: entry.eventId,
      kind: entry.kind,
      eventType: entry.kind === 'interaction' ? entry.eventType : null,
      itemId: entry.kind === 'interaction' ? entry.itemId : null,
      at: entry.kind === 'interaction' ? entry.sentAt : null,
      mergedFrom: entry.kind === 'merge' ? entry.fromKey : null,
      items: featureChanges(itemWeights(before), itemWeights(state), top),
      categories: featureChanges(categoryWeights(before), categoryWeights(state), top),
      list: list.items.map((item, rank) => ({ itemId: item.itemId, rank: rank + 1, previousRank: rankIn(previous, item.itemId), score: item.score })),
      changed: !sameIds(ids, previous),
      recorded: recorded === undefined ? null : { items: recorded.items, modelVersion: recorded.modelVersion, arm: recorded.arm ?? 'live', matches: sameIds(recorded.items, ids) },
    });
    previous = ids;
  }
  const withEvent = steps.filter((step) => step.recorded !== null);
  return {
    key: input.key,
    modelVersion: input.scorer.version,
    steps,
    pushes: { recorded: input.pushes.length, withEvent: withEvent.length, reproduced: withEvent.filter((step) => step.recorded?.matches === true).length },
  };
}

function featureChanges(before: Array<[string, number]>, after: Array<[string, number]>, top: number): FeatureWeight[] {
  const previous = new Map(before);
  return after.slice(0, top).map(([name, weight]) => ({ name, weight: round(weight), before: previous.has(name) ? round(previous.get(name) ?? 0) : null }));
}

function rankIn(ids: readonly string[], itemId: string): number | null {
  const index = ids.indexOf(itemId);
  return index === -1 ? null : index + 1;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function round(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}

/** The timeline as text: one block per event, rank moves marked, recorded pushes compared. */
export function formatTimeline(timeline: ReplayTimeline, listShown = 10): string {
  const lines = [`replay of ${timeline.key} with model ${timeline.modelVersion}: ${timeline.steps.length} log entries`];
  for (const step of timeline.steps) {
    const what = step.kind === 'merge' ? `merge of ${step.mergedFrom}` : `${step.eventType} ${step.itemId}`;
    const when = step.at === null ? '' : ` @ ${new Date(step.at).toISOString()}`;
    lines.push('', `${step.eventId}  ${what}${when}`);
    lines.push(`  categories: ${step.categories.map(formatFeature).join(', ') || '-'}`);
    lines.push(`  items:      ${step.items.map(formatFeature).join(', ') || '-'}`);
    const shown = step.list.slice(0, listShown).map((item) => `${item.rank}. ${item.itemId}${formatMove(item)}`);
    lines.push(`  list${step.changed ? '' : ' (unchanged)'}: ${shown.join('  ')}`);
    if (step.recorded !== null) {
      const source = `model ${step.recorded.modelVersion}, arm ${step.recorded.arm}`;
      lines.push(step.recorded.matches ? `  pushed: the same list (${source})` : `  pushed (${source}), differs: ${step.recorded.items.slice(0, listShown).join(' ')}`);
    }
  }
  const { recorded, withEvent, reproduced } = timeline.pushes;
  lines.push('', `pushes recorded: ${recorded}; caused by a replayed event: ${withEvent}; reproduced exactly: ${reproduced}`);
  return lines.join('\n');
}

function formatFeature(feature: FeatureWeight): string {
  const delta = feature.before === null ? ' new' : feature.weight === feature.before ? '' : ` ${feature.weight > feature.before ? '+' : ''}${round(feature.weight - feature.before)}`;
  return `${feature.name} ${feature.weight}${delta}`;
}

function formatMove(item: RankedItem): string {
  if (item.previousRank === null) return ' (new)';
  if (item.previousRank === item.rank) return '';
  return item.previousRank > item.rank ? ` (↑${item.previousRank - item.rank})` : ` (↓${item.rank - item.previousRank})`;
}
