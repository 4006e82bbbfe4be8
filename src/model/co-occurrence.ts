import type { ScoredItem } from './types.js';

export interface CoOccurrenceOptions {
  /** Two items of one session pair up when at most this many items lie between them, plus one... */
  windowItems: number;
  /** ...and at most this many ms apart. */
  windowMs: number;
  /** A pair's weight halves every this many ms of event time. */
  halfLifeMs: number;
  /** Share of a forward pair's weight credited to the reverse direction. */
  backwardWeight: number;
  /** Rows (source items) kept; the least recently updated one goes first. */
  maxItems: number;
  /** Neighbours kept per row; the weakest one goes first. */
  maxNeighbours: number;
  /** Sessions whose recent items are remembered; the least recently active one goes first. */
  maxSessions: number;
}

export const DEFAULT_CO_OCCURRENCE_OPTIONS: Readonly<CoOccurrenceOptions> = Object.freeze({
  windowItems: 3,
  windowMs: 30 * 60_000,
  halfLifeMs: 6 * 3600_000,
  backwardWeight: 0.5,
  maxItems: 100_000,
  maxNeighbours: 50,
  maxSessions: 100_000,
});

/**
 * One weight added to the pair `from -> to` at event time `at`. What a node sends the others:
 * adding is commutative (see CoOccurrenceTable.add), so every node that adds the same
 * increments holds the same table, whatever order they came in.
 */
export interface PairIncrement {
  from: string;
  to: string;
  weight: number;
  at: number;
}

interface Cell {
  /** The weight as of `at`. */
  weight: number;
  at: number;
}

interface Seen {
  itemId: string;
  at: number;
}

/**
 * Co-occurrences from the live event stream, for items the model has not learnt (new ones) or
 * learnt from older data: two items seen close together in one session are neighbours, the
 * nearer the stronger, and every weight decays with event time, so the table follows what
 * visitors do now. Bounded in rows, neighbours per row and sessions remembered. Pure: time is
 * the events' time, never the clock.
 */
export class CoOccurrenceTable {
  private readonly rows = new Map<string, Map<string, Cell>>();
  private readonly sessions = new Map<string, Seen[]>();
  /** The latest event time added: weights are compared as of it. */
  private clock = 0;

  constructor(private readonly options: CoOccurrenceOptions = DEFAULT_CO_OCCURRENCE_OPTIONS) {}

  get size(): number {
    return this.rows.size;
  }

  has(itemId: string): boolean {
    return this.rows.has(itemId);
  }

  /** The source items, least recently updated first. */
  itemIds(): IterableIterator<string> {
    return this.rows.keys();
  }

  /**
   * Records that `sessionKey` saw `itemId` at `at` and returns the pairs it makes with the
   * session's recent items (not yet added: the caller adds them here and sends them on). A
   * repeat of the session's latest item adds nothing.
   */
  observe(sessionKey: string, itemId: string, at: number): PairIncrement[] {
    const { windowItems, windowMs, backwardWeight, maxSessions } = this.options;
    const recent = this.sessions.get(sessionKey) ?? [];
    this.sessions.delete(sessionKey);
    if (recent.at(-1)?.itemId === itemId) {
      recent[recent.length - 1] = { itemId, at };
      this.sessions.set(sessionKey, recent);
      return [];
    }
    const increments: PairIncrement[] = [];
    for (let back = 1; back <= Math.min(windowItems, recent.length); back++) {
      const earlier = recent[recent.length - back];
      if (earlier.itemId === itemId || Math.abs(at - earlier.at) > windowMs) continue;
      const weight = 1 / back;
      increments.push({ from: earlier.itemId, to: itemId, weight, at });
      if (backwardWeight > 0) increments.push({ from: itemId, to: earlier.itemId, weight: weight * backwardWeight, at });
    }
    recent.push({ itemId, at });
    if (recent.length > windowItems) recent.splice(0, recent.length - windowItems);
    this.sessions.set(sessionKey, recent);
    if (this.sessions.size > maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    return increments;
  }

  /**
   * Adds pair weights. A cell holds its weight as of its latest time: a later increment decays
   * the cell to its time first, an earlier one is decayed to the cell's; either way the cell
   * reads sum(weight_i * 2^-(T - at_i)/halfLife), the same whatever the order.
   */
  add(increments: readonly PairIncrement[]): void {
    const { maxItems, maxNeighbours } = this.options;
    for (const { from, to, weight, at } of increments) {
      if (from === to || !(weight > 0) || !Number.isFinite(at)) continue;
      if (at > this.clock) this.clock = at;
      let row = this.rows.get(from);
      if (row === undefined) row = new Map();
      else this.rows.delete(from);
      this.rows.set(from, row);
      const cell = row.get(to);
      if (cell === undefined) row.set(to, { weight, at });
      else if (at >= cell.at) row.set(to, { weight: cell.weight * this.decay(at - cell.at) + weight, at });
      else cell.weight += weight * this.decay(cell.at - at);
      if (row.size > maxNeighbours) this.dropWeakest(row);
      if (this.rows.size > maxItems) {
        const oldest = this.rows.keys().next().value;
        if (oldest !== undefined) this.rows.delete(oldest);
      }
    }
  }

  /** The `k` strongest neighbours of `itemId` as of the table's clock, best first, ties by id. */
  neighbours(itemId: string, k: number): ScoredItem[] {
    const row = this.rows.get(itemId);
    if (row === undefined || k <= 0) return [];
    const scored = [...row].map(([id, cell]) => ({ itemId: id, score: this.weightNow(cell) }));
    scored.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    return scored.slice(0, k);
  }

  private weightNow(cell: Cell): number {
    return cell.weight * this.decay(this.clock - cell.at);
  }

  private decay(ms: number): number {
    return Math.pow(2, -ms / this.options.halfLifeMs);
  }

  private dropWeakest(row: Map<string, Cell>): void {
    let weakest: string | null = null;
    let weakestWeight = Infinity;
    for (const [id, cell] of row) {
      const weight = this.weightNow(cell);
      if (weight < weakestWeight || (weight === weakestWeight && weakest !== null && id > weakest)) {
        weakest = id;
        weakestWeight = weight;
      }
    }
    if (weakest !== null) row.delete(weakest);
  }
}
