import type { CatalogStore } from '../store/types.js';
import type { CatalogIndex } from './catalog.js';

export interface CatalogSyncOptions {
  store: CatalogStore;
  index: CatalogIndex;
  /** How often to ask the store what changed: the bound on how stale another node's write stays here. */
  pollMs: number;
  /** Items whose stock flag changed here: live actors showing them re-score. */
  onStockChanged: (itemIds: string[]) => void;
  onError: (err: unknown, context: string) => void;
}

/**
 * Keeps this node's copy of the catalog (the index every filter reads) in step with the shared
 * store, so an item update made through any node reaches every node's filters within `pollMs`
 * plus one round trip. Each poll is one store call; it re-reads only the items written since the
 * version this copy reflects, or the whole catalog when the store's change log no longer reaches
 * back that far (after a long disconnection).
 */
export class CatalogSync {
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;

  private constructor(
    private readonly options: CatalogSyncOptions,
    private version: number,
  ) {}

  /** Fills the index from the store and returns a sync positioned after what it read. */
  static async load(options: CatalogSyncOptions): Promise<CatalogSync> {
    // The version first: a write landing between the two reads is read again by the first poll.
    const version = await options.store.version();
    options.index.apply(await options.store.list());
    return new CatalogSync(options, version);
  }

  /** The store version this copy reflects (at least). */
  get appliedVersion(): number {
    return this.version;
  }

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.poll().finally(loop), this.options.pollMs);
    };
    loop();
  }

  /** One round: applies what changed since the last one. Concurrent calls share one round. */
  poll(): Promise<void> {
    this.polling ??= this.round().finally(() => (this.polling = null));
    return this.polling;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }

  private async round(): Promise<void> {
    const { store, index } = this.options;
    try {
      const changes = await store.changesSince(this.version);
      let stockChanged: string[];
      if (changes === null) {
        const version = await store.version();
        stockChanged = index.apply(await store.list());
        this.version = version;
      } else {
        if (changes.itemIds.length > 0) stockChanged = index.apply(await store.get(changes.itemIds));
        else stockChanged = [];
        this.version = changes.version;
      }
      if (stockChanged.length > 0) this.options.onStockChanged(stockChanged);
    } catch (err) {
      // The copy stays as it was; the next round asks again from the same version.
      this.options.onError(err, 'catalog sync');
    }
  }
}
