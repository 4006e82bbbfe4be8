import { CoOccurrenceTable, DEFAULT_CO_OCCURRENCE_OPTIONS, type CoOccurrenceOptions, type PairIncrement } from './co-occurrence.js';
import { ContentIndex, DEFAULT_CONTENT_OPTIONS, type ContentItem, type ContentIndexOptions } from './content-index.js';
import { LiveScorer, type LiveBlendOptions, type ModelScorer } from './live-scorer.js';

/**
 * What a node learns between retrains: content neighbours from catalog writes, co-occurrences
 * from events (its own, and those other nodes send), and which items the served model does not
 * know (new ones), with how much evidence each has gathered. Serving reads it through
 * `scorerFor(model)`, a scorer that blends it into the model's lists.
 */
export class LiveUpdates {
  readonly content: ContentIndex;
  readonly coOccurrence: CoOccurrenceTable;
  /** The model the new-item set is for: rebuilt when another one is served. */
  private model: ModelScorer | null = null;
  private scorer: LiveScorer | null = null;
  /** Items the model does not know -> co-occurrence increments that named them (their exposure). */
  private readonly unknown = new Map<string, number>();
  /** newItems(), kept until the next change. */
  private sortedUnknown: string[] | null = null;

  constructor(
    private readonly blend: LiveBlendOptions,
    options: { content?: ContentIndexOptions; coOccurrence?: CoOccurrenceOptions } = {},
  ) {
    this.content = new ContentIndex(options.content ?? DEFAULT_CONTENT_OPTIONS);
    this.coOccurrence = new CoOccurrenceTable(options.coOccurrence ?? DEFAULT_CO_OCCURRENCE_OPTIONS);
  }

  /** Catalog items written (through any node): indexed by content at once. */
  catalogChanged(items: readonly ContentItem[]): void {
    this.content.upsert(items);
    for (const item of items) this.noteItem(item.itemId, 0);
  }

  /** One of this node's accepted events: returns the pair increments it made, already added here, for the other nodes. */
  observe(sessionKey: string, itemId: string, at: number): PairIncrement[] {
    const increments = this.coOccurrence.observe(sessionKey, itemId, at);
    this.add(increments);
    return increments;
  }

  /** Increments another node observed. */
  add(increments: readonly PairIncrement[]): void {
    this.coOccurrence.add(increments);
    for (const { from, to } of increments) {
      this.noteItem(from, 1);
      this.noteItem(to, 1);
    }
  }

  /** The scorer that serves `model` with the live neighbours blended in; one per model. */
  scorerFor(model: ModelScorer): LiveScorer {
    if (this.scorer === null || this.model !== model) {
      this.model = model;
      this.unknown.clear();
      this.sortedUnknown = null;
      for (const id of this.content.itemIds()) this.noteItem(id, 0);
      for (const id of this.coOccurrence.itemIds()) this.noteItem(id, 1);
      this.scorer = new LiveScorer(model, this, this.blend);
    }
    return this.scorer;
  }

  /** How many items the served model does not know but the live sources do. */
  get unknownCount(): number {
    return this.unknown.size;
  }

  /** Items the served model does not know, least exposed first (ties by id): the exploration pool. */
  newItems(): readonly string[] {
    this.sortedUnknown ??= [...this.unknown].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([id]) => id);
    return this.sortedUnknown;
  }

  knows(itemId: string): boolean {
    return this.content.has(itemId) || this.coOccurrence.has(itemId);
  }

  private noteItem(itemId: string, exposure: number): void {
    if (this.model === null || this.model.hasItem(itemId)) return;
    this.unknown.set(itemId, (this.unknown.get(itemId) ?? 0) + exposure);
    this.sortedUnknown = null;
  }
}
