import type { AttuneConfig } from '../config.js';
import type { CatalogIndex } from '../model/catalog.js';
import type { PairIncrement } from '../model/co-occurrence.js';
import type { ModelScorer } from '../model/live-scorer.js';
import { LiveUpdates } from '../model/live-updates.js';
import type { ServingModel } from '../model/serving-model.js';
import type { Metrics } from '../ops/metrics.js';
import type { InteractionEntry } from '../session/events.js';
import type { NodeBus } from '../store/types.js';

/** Most pairs one bus message carries; a busier interval sends several. */
export const PAIRS_PER_MESSAGE = 2000;

/** What serving reads of live updates: the scorer to serve with, and the events to learn from. */
export interface LivePart {
  /** The served model with the live neighbours blended in; the same object for the same model (the host compares them). */
  serving(model: ServingModel, scorer: ModelScorer): ServingModel;
  /** The scorer lists are built with, for `scorer` being served. */
  scorer(scorer: ModelScorer): ModelScorer;
  /** One of this node's accepted events. */
  onAccepted(entry: InteractionEntry): void;
  /** null when live updates are off. */
  readonly updates: LiveUpdates | null;
  /** Sends what is pending and stops sharing. */
  close(): Promise<void>;
}

/**
 * Live updates for one node (README "Live updates"): catalog writes, through any node, index
 * content at once; this node's events feed the co-occurrence table at once and, when nodes
 * share stores, reach the other nodes' tables in batches every `--live-share-ms` over the node
 * bus, as the others' reach this one. Off (`--live-updates false`): the model alone.
 */
export async function createLivePart(config: AttuneConfig, deps: { catalog: CatalogIndex; bus: NodeBus; shared: boolean; nodeId: string; metrics: Metrics; onError: (err: unknown, context: string) => void }): Promise<LivePart> {
  if (!config.live.enabled) {
    return { serving: (model) => model, scorer: (scorer) => scorer, onAccepted: () => {}, updates: null, close: async () => {} };
  }
  const updates = new LiveUpdates({ knownWeight: config.live.knownWeight, weakBelow: config.live.weakBelow, exploreShare: config.live.exploreShare, exploreSeed: config.live.exploreSeed });
  const { metrics } = deps;
  updates.catalogChanged(deps.catalog.all());
  const stopFollowingCatalog = deps.catalog.onApply((items) => {
    updates.catalogChanged(items);
    metrics.liveNewItems.set(updates.unknownCount);
  });
  const wrapped = new WeakMap<ServingModel, ServingModel>();
  let pending: PairIncrement[] = [];
  let unsubscribe: (() => Promise<void>) | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const send = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    for (let start = 0; start < batch.length; start += PAIRS_PER_MESSAGE) {
      const pairs = batch.slice(start, start + PAIRS_PER_MESSAGE).map((p): [string, string, number, number] => [p.from, p.to, p.weight, p.at]);
      await deps.bus.publish({ type: 'live-pairs', nodeId: deps.nodeId, pairs });
    }
  };
  if (deps.shared) {
    unsubscribe = await deps.bus.subscribe((message) => {
      if (message.type !== 'live-pairs' || message.nodeId === deps.nodeId) return;
      updates.add(message.pairs.map(([from, to, weight, at]) => ({ from, to, weight, at })));
      metrics.livePairs.inc({ source: 'peer' }, message.pairs.length);
      metrics.liveNewItems.set(updates.unknownCount);
    });
    const loop = (): void => {
      if (closed) return;
      timer = setTimeout(() => void send().catch((err: unknown) => deps.onError(err, 'share live co-occurrences')).finally(loop), config.live.shareMs);
    };
    loop();
  }
  // An experiment serves two models side by side: each is counted when first seen, not at every switch.
  const seenModels = new WeakSet<ModelScorer>();
  /** The live scorer for `scorer`; a newly served model recounts the items it does not know. */
  const liveScorerFor = (scorer: ModelScorer): ModelScorer => {
    const live = updates.scorerFor(scorer);
    if (!seenModels.has(scorer)) {
      seenModels.add(scorer);
      metrics.liveNewItems.set(updates.unknownCount);
    }
    return live;
  };
  return {
    updates,
    serving: (model, scorer) => {
      let served = wrapped.get(model);
      if (served === undefined) wrapped.set(model, (served = { ...model, scorer: liveScorerFor(scorer) }));
      return served;
    },
    scorer: liveScorerFor,
    onAccepted: (entry) => {
      const increments = updates.observe(entry.sessionId, entry.itemId, entry.sentAt);
      if (increments.length === 0) return;
      metrics.livePairs.inc({ source: 'local' }, increments.length);
      metrics.liveNewItems.set(updates.unknownCount);
      if (deps.shared) pending.push(...increments);
    },
    close: async () => {
      closed = true;
      stopFollowingCatalog();
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (unsubscribe !== null) await unsubscribe();
      if (deps.shared) await send().catch((err: unknown) => deps.onError(err, 'share live co-occurrences'));
    },
  };
}
