import { randomUUID } from 'node:crypto';
import { createActor, type Actor } from 'xstate';
import type { AttuneConfig } from '../config.js';
import type { Arm } from '../lib/experiment.js';
import { AttuneError } from '../errors.js';
import type { Metrics } from '../ops/metrics.js';
import type { CatalogIndex } from '../model/catalog.js';
import { recommendForState, type ListOptions, type RecommendationList } from '../model/recommend.js';
import type { ServingModel } from '../model/serving-model.js';
import { shardOf } from '../store/shard.js';
import { compareEventIds, type Stores } from '../store/types.js';
import { parseSentAt, sessionKey, userKey, type IncomingEvent, type InteractionEntry, type LogEntry } from '../session/events.js';
import { KeyedLanes } from './lanes.js';
import { soleNodePlacement, type Placement } from './placement.js';
import { sessionMachine, type SessionMachine } from './session-machine.js';
import { decodeSnapshot, encodeSnapshot } from '../session/snapshot.js';
import { initialState, reduce, type ReducerConfig, type SessionState } from '../session/state.js';

/** What a socket receives when its list changes. */
export interface RecommendationsPush {
  items: Array<{ itemId: string; score: number }>;
  recommendationId: string;
  modelVersion: string;
  /** The experiment arm whose model scored it ('live' outside an experiment). */
  arm: Arm;
  /** The latest event this list reflects, so a client can time its event-to-push. */
  cause: { eventId: string; eventType: string; itemId: string } | null;
}

/** Receives a push for the room named after the actor's key. */
export type PushListener = (room: string, push: RecommendationsPush) => void;

/** Hears a session become a user's (its events and pushes go to the user's actor from now on). */
export type LinkListener = (sessionId: string, userId: string) => void;

/** A batch of one session's events, validated and timed, as the node that received it hands it to the key's owner. */
export interface ForwardedEvents {
  sessionId: string;
  /** The user the session is linked to, as the receiving node resolved it: the entries name it. */
  userId: string | null;
  /**
   * `sentAt` resolved to epoch ms. `forwardId`: the sending node's dedup key for an event the
   * client sent without an id, so that when the owner does not answer in time the sender can
   * append the batch itself and a late append by the owner is still stored once.
   */
  events: ReadonlyArray<IncomingEvent & { sentAt: number; forwardId?: string }>;
  receivedAt: number;
}

/**
 * Sends a batch to the node that owns its key. Resolves to the entries the owner appended, or to
 * null when the batch was not sent (no owner known or reachable; the owner says the key is not
 * its own): this node appends it then. Rejects when it may or may not have been appended (the
 * owner went silent), so it is neither appended again nor acknowledged.
 */
export type ForwardToOwner = (key: string, batch: ForwardedEvents) => Promise<InteractionEntry[] | null>;

export interface Identity {
  sessionId: string;
  userId?: string;
}

/** One actor in memory: its lifecycle machine, its state and its push bookkeeping. */
class LiveActor {
  readonly actor: Actor<SessionMachine>;
  lastActivityAt: number;
  lastPushedIds: string[] | null = null;
  scoring = false;
  rescore = false;
  /** Events applied since the last scoring pass started: their push, if any, is timed. */
  unscored: InteractionEntry[] = [];
  eventsSinceSnapshot = 0;
  /** Erased (a user's deletion): nothing of it may be written any more. */
  forgotten = false;

  constructor(
    readonly key: string,
    public userId: string | null,
    /** The reducer's latest state: replaced, never mutated, on every event. */
    public state: SessionState,
    now: () => number,
    lifecycle: AttuneConfig['actors'],
  ) {
    this.lastActivityAt = now();
    this.actor = createActor(sessionMachine, {
      input: { key, userId, lastActivityAt: () => this.lastActivityAt, now, idleMs: lifecycle.idleMs, passivateMs: lifecycle.passivateMs },
    });
  }
}

export interface ActorHostDeps {
  config: AttuneConfig;
  stores: Stores;
  catalog: CatalogIndex;
  /**
   * The model serving a key now (its experiment arm's; null: a list for no one); read per use, so
   * a hot swap or the end of an experiment takes effect at the next event.
   */
  model: (key: string | null) => ServingModel;
  metrics: Metrics;
  onError: (err: unknown, context: string) => void;
  /** Which shards are this node's; absent, it is the only node (the embedded mode). */
  placement?: Placement;
  /** Events of keys this node does not own go to their owner, which appends and applies them in one step. */
  forwardToOwner?: ForwardToOwner;
  /** Every event once it is in the log (popular and trending counts). */
  onAccepted?: (entry: InteractionEntry, reducer: ReducerConfig) => void;
  now?: () => number;
}

/**
 * Owns the live actors of this node: routes each accepted event to its key's actor (activating
 * it from snapshot + log when needed), re-scores after every event, pushes when the top-N
 * changed, and passivates idle actors.
 */
export class ActorHost {
  private readonly actors = new Map<string, LiveActor>();
  private readonly lanes = new KeyedLanes();
  /**
   * Shards being or already given up. Set before the first await of `dropShard`, so no actor of
   * the shard is activated here once the handoff has begun, even while its lease still holds.
   */
  private readonly droppedShards = new Set<number>();
  private readonly now: () => number;
  private readonly placement: Placement;
  private readonly pushListeners = new Set<PushListener>();
  private readonly linkListeners = new Set<LinkListener>();
  private stopped = false;

  constructor(private readonly deps: ActorHostDeps) {
    this.now = deps.now ?? Date.now;
    this.placement = deps.placement ?? soleNodePlacement;
  }

  /** Hears every push this host sends (the socket gateway emits them to the room). Returns the unsubscribe. */
  onPush(listener: PushListener): () => void {
    this.pushListeners.add(listener);
    return () => this.pushListeners.delete(listener);
  }

  /** Hears every link this host makes (the socket gateway moves the session's sockets to the user's room). Returns the unsubscribe. */
  onLinked(listener: LinkListener): () => void {
    this.linkListeners.add(listener);
    return () => this.linkListeners.delete(listener);
  }

  get liveActorCount(): number {
    return this.actors.size;
  }

  isLive(key: string): boolean {
    return this.actors.has(key);
  }

  /** The actor key that events of this session go to now. */
  async resolveKey(identity: Identity): Promise<string> {
    if (identity.userId !== undefined) return userKey(identity.userId);
    const linked = await this.deps.stores.identities.userOf(identity.sessionId);
    return linked === null ? sessionKey(identity.sessionId) : userKey(linked);
  }

  /**
   * Validates, appends and applies a batch of one session's events. Resolves once every event
   * is in the log (the acknowledgement point); re-scoring and pushing follow asynchronously.
   */
  async ingest(identity: Identity, events: readonly IncomingEvent[]): Promise<InteractionEntry[]> {
    const receivedAt = this.now();
    const timed = events.map((event, i) => {
      const sentAt = parseSentAt(event.sentAt, receivedAt);
      if (sentAt === null) throw new AttuneError('VALIDATION', `eventList[${i}].sentAt is not a valid time`);
      return { ...event, sentAt };
    });
    if (identity.userId !== undefined) await this.identify(identity.sessionId, identity.userId);
    const sKey = sessionKey(identity.sessionId);
    return this.lanes.run(sKey, async () => {
      const linked = await this.deps.stores.identities.userOf(identity.sessionId);
      const key = linked === null ? sKey : userKey(linked);
      const batch: ForwardedEvents = { sessionId: identity.sessionId, userId: linked, events: timed, receivedAt };
      const append = async (): Promise<InteractionEntry[]> => {
        const live = (await this.activate(key))?.live ?? null;
        if (live === null && this.deps.forwardToOwner !== undefined) {
          const tagged = { ...batch, events: batch.events.map((event) => (event.eventId === undefined ? { ...event, forwardId: randomUUID() } : event)) };
          const forwarded = await this.deps.forwardToOwner(key, tagged);
          return forwarded ?? this.appendTo(key, live, tagged);
        }
        return this.appendTo(key, live, batch);
      };
      return key === sKey ? append() : this.lanes.run(key, append);
    });
  }

  /**
   * Events another node forwarded to this one as their key's owner (the key as that node
   * resolved it). Null, with nothing appended, when the key is not this node's (any more): the
   * sender then appends them itself.
   */
  ingestForwarded(key: string, batch: ForwardedEvents): Promise<InteractionEntry[] | null> {
    return this.lanes.run(key, async () => {
      const live = (await this.activate(key))?.live ?? null;
      return live === null ? null : this.appendTo(key, live, batch);
    });
  }

  /**
   * Appends a batch to the key's log and applies it to the key's live actor here, if any; with
   * none, wakes the key's owner. Runs in the key's lane.
   */
  private async appendTo(key: string, live: LiveActor | null, batch: ForwardedEvents): Promise<InteractionEntry[]> {
    const accepted: InteractionEntry[] = [];
    /** Another node's entries may precede ours in the log: the live actor reads them back instead of applying its own. */
    let behind = false;
    for (const event of batch.events) {
      const fresh: Omit<InteractionEntry, 'eventId'> = {
        kind: 'interaction',
        sessionId: batch.sessionId,
        ...(batch.userId === null ? {} : { userId: batch.userId }),
        eventType: event.eventType,
        itemId: event.itemId,
        ...(event.eventValue === undefined ? {} : { eventValue: event.eventValue }),
        ...(event.properties === undefined ? {} : { properties: event.properties }),
        ...(event.impression === undefined ? {} : { impression: [...event.impression] }),
        ...(event.recommendationId === undefined ? {} : { recommendationId: event.recommendationId }),
        ...(event.eventId === undefined ? {} : { clientEventId: event.eventId }),
        sentAt: event.sentAt,
        receivedAt: batch.receivedAt,
        ...this.enrichment(event.itemId),
      };
      const dedupId = event.eventId ?? event.forwardId;
      const { entry, duplicate, follows } = await this.appendEvent(key, fresh, dedupId, live === null || behind ? undefined : live.state.lastEventId);
      // A resend of a stored event: answered with the first ack, applied and counted once.
      if (duplicate) {
        accepted.push(entry);
        behind = true;
        continue;
      }
      this.deps.metrics.eventsAccepted.inc();
      this.deps.onAccepted?.(entry, this.deps.model(key).reducer);
      accepted.push(entry);
      if (live === null) continue;
      if (follows || !this.placement.sharedLog) this.apply(live, entry);
      else behind = true;
    }
    // Another node appended to this key meanwhile: the owner applies the log's order.
    if (live !== null && behind && this.placement.sharedLog) await this.catchUp(live);
    if (live === null) await this.wakeOwner(key);
    return accepted;
  }

  /**
   * Identity resolution: links the session to the user and folds the session's anonymous state
   * into the user's actor through a merge entry in the user's log. Later events of the session
   * go to the user. Returns the user's actor key.
   */
  async identify(sessionId: string, userId: string): Promise<string> {
    const sKey = sessionKey(sessionId);
    const uKey = userKey(userId);
    return this.lanes.run(sKey, async () => {
      const linked = await this.deps.stores.identities.userOf(sessionId);
      if (linked === userId) return uKey;
      if (linked !== null) {
        throw new AttuneError('IDENTITY_CONFLICT', `session ${sessionId} is already identified as another user`);
      }
      const sessionState = await this.currentState(sKey);
      await this.deps.stores.identities.link(sessionId, userId);
      for (const listener of this.linkListeners) listener(sessionId, userId);
      const anonymous = this.actors.get(sKey);
      if (anonymous) {
        anonymous.userId = userId;
        anonymous.actor.send({ type: 'IDENTIFY', userId });
        anonymous.actor.send({ type: 'PASSIVATE' });
      }
      await this.lanes.run(uKey, async () => {
        const live = (await this.activate(uKey))?.live ?? null;
        if (sessionState.eventCount === 0) return;
        const entry = await this.deps.stores.log.append(uKey, { kind: 'merge', fromKey: sKey, receivedAt: this.now(), state: sessionState });
        if (live === null) await this.wakeOwner(uKey);
        else if (this.placement.sharedLog) await this.catchUp(live);
        else this.apply(live, entry);
      });
      return uKey;
    });
  }

  /** The list for a key: from its live actor, else from its stored state, else popular items. */
  async recommend(key: string, n: number, options: ListOptions = {}): Promise<RecommendationList> {
    const state = await this.currentState(key);
    return recommendForState(this.deps.model(key).scorer, this.deps.catalog, state.eventCount === 0 ? null : state, n, options);
  }

  /**
   * The list a socket gets on connect. Activates the actor when it has history, since a
   * connected socket is about to send events.
   */
  async listOnConnect(key: string, userId: string | null): Promise<RecommendationsPush> {
    const state = await this.currentState(key);
    const live = state.eventCount > 0 ? (await this.lanes.run(key, () => this.activate(key)))?.live : undefined;
    const model = this.deps.model(key);
    const list = await recommendForState(model.scorer, this.deps.catalog, state.eventCount === 0 ? null : state, this.deps.config.pushSize);
    if (live && live.lastPushedIds === null) live.lastPushedIds = list.items.map((i) => i.itemId);
    return toPush(list, null, model.arm);
  }

  /** The list of a visitor with no history (an opted-out user's, whose behaviour is not used). */
  async anonymousList(): Promise<RecommendationsPush> {
    const model = this.deps.model(null);
    return toPush(await recommendForState(model.scorer, this.deps.catalog, null, this.deps.config.pushSize), null, model.arm);
  }

  /**
   * Another node appended to a key this node owns: apply what the log has beyond the actor's
   * state, activating it first when needed.
   */
  onWake(key: string): Promise<void> {
    return this.lanes.run(key, async () => {
      const activation = await this.activate(key);
      if (activation === null) return;
      const { live, replayed } = activation;
      if (replayed === null) {
        await this.catchUp(live);
        return;
      }
      // Activated by this note: the state already holds the new entries, but no list reflecting
      // them has been pushed (the socket may be on another node). The latest one is the cause.
      const latest = replayed.findLast((entry): entry is InteractionEntry => entry.kind === 'interaction');
      if (latest !== undefined) live.unscored.push(latest);
      this.scheduleScore(live);
    });
  }

  /**
   * Imported history (src/ops/import.ts): appends one key's entries in order inside the key's
   * lane, so no live event interleaves with them half-applied, and folds them into the key's
   * live actor here, if any, without scoring, pushing or waking an owner. An actor that is not
   * live reads them from the log when it activates; on shared stores a live owner applies them
   * at its next catch-up.
   */
  appendHistory(key: string, entries: readonly Omit<InteractionEntry, 'eventId'>[]): Promise<InteractionEntry[]> {
    return this.lanes.run(key, async () => {
      const stored: InteractionEntry[] = [];
      for (const entry of entries) stored.push((await this.deps.stores.log.append(key, entry)) as InteractionEntry);
      const live = this.actors.get(key);
      if (live !== undefined && !this.placement.sharedLog) for (const entry of stored) this.fold(live, entry);
      return stored;
    });
  }

  /** The shard is this node's (again): its keys may be activated here. */
  adoptShard(shard: number): void {
    this.droppedShards.delete(shard);
  }

  /**
   * The shard is no longer this node's: its actors stop. On a handoff (`flush`) they write a
   * last, still-fenced snapshot first; after a lost lease they cannot, and the log has it all.
   */
  async dropShard(shard: number, flush: boolean): Promise<void> {
    this.droppedShards.add(shard);
    const leaving = [...this.actors.values()].filter((live) => shardOf(live.key, this.deps.stores.shardCount) === shard);
    await Promise.all(
      leaving.map((live) =>
        this.lanes.run(live.key, async () => {
          if (flush) await this.snapshot(live);
          if (this.actors.get(live.key) !== live) return;
          this.actors.delete(live.key);
          live.actor.stop();
        }),
      ),
    );
    this.deps.metrics.liveActors.set(this.actors.size);
  }

  /**
   * The key's data is being erased: its live actor stops without writing a snapshot or a push.
   * Runs in the key's lane, after whatever was queued for it.
   */
  forget(key: string): Promise<void> {
    return this.lanes.run(key, async () => {
      const live = this.actors.get(key);
      if (live === undefined) return;
      this.actors.delete(key);
      live.forgotten = true;
      live.actor.stop();
      this.deps.metrics.liveActors.set(this.actors.size);
    });
  }

  /** Items whose stock changed: live actors showing one of them re-score now, not at their next event. */
  onStockChanged(itemIds: readonly string[]): void {
    const changed = new Set(itemIds);
    for (const live of this.actors.values()) {
      if (live.lastPushedIds?.some((id) => changed.has(id))) this.scheduleScore(live);
      else if (live.lastPushedIds !== null && itemIds.some((id) => this.deps.catalog.isInStock(id))) this.scheduleScore(live);
    }
  }

  /** Snapshots and drops every live actor (shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    const writes = [...this.actors.values()].map((live) => this.snapshot(live));
    for (const live of this.actors.values()) live.actor.stop();
    this.actors.clear();
    this.deps.metrics.liveActors.set(0);
    await Promise.all(writes);
  }

  /** A key's state as of its latest applied entry, without activating it. */
  async currentState(key: string): Promise<SessionState> {
    const live = this.actors.get(key);
    if (live) return live.state;
    return (await this.loadState(key)).state;
  }

  private async loadState(key: string): Promise<{ state: SessionState; userId: string | null; replayed: LogEntry[] }> {
    const stored = await this.deps.stores.snapshots.get(key);
    const snapshot = stored === null ? null : decodeSnapshot(stored);
    const base = snapshot?.state ?? initialState();
    const replayed: LogEntry[] = await this.deps.stores.log.read(key, base.lastEventId);
    return {
      state: replayed.reduce((s, e) => reduce(s, e, this.deps.model(key).reducer), base),
      userId: snapshot?.userId ?? null,
      replayed,
    };
  }

  /**
   * The key's actor, activated from snapshot + log when it is not live; null when the key is
   * not this node's. `replayed` holds the log entries folded in by this activation (null when
   * the actor was live already). Must run inside the key's lane, so a rehydration never races
   * an append of the same key.
   */
  private async activate(key: string): Promise<{ live: LiveActor; replayed: LogEntry[] | null } | null> {
    if (!this.owns(key)) return null;
    const existing = this.actors.get(key);
    if (existing) return { live: existing, replayed: null };
    const loaded = await this.loadState(key);
    // The shard may have been handed off while the state loaded.
    if (!this.owns(key)) return null;
    const raced = this.actors.get(key);
    if (raced) return { live: raced, replayed: null };
    const live = new LiveActor(key, key.startsWith('u:') ? key.slice(2) : loaded.userId, loaded.state, this.now, this.deps.config.actors);
    live.actor.subscribe({
      complete: () => this.passivated(live),
      error: (err) => this.deps.onError(err, `actor ${key}`),
    });
    this.actors.set(key, live);
    this.deps.metrics.liveActors.set(this.actors.size);
    live.actor.start();
    return { live, replayed: loaded.replayed };
  }

  private passivated(live: LiveActor): void {
    if (this.actors.get(live.key) !== live) return;
    this.actors.delete(live.key);
    this.deps.metrics.liveActors.set(this.actors.size);
    this.deps.metrics.passivations.inc();
    void this.snapshot(live);
  }

  private async snapshot(live: LiveActor): Promise<void> {
    const { key, userId, state } = live;
    if (state.eventCount === 0 || live.forgotten) return;
    const claim = this.placement.claim(shardOf(key, this.deps.stores.shardCount));
    // Not (or no longer provably) the owner: whoever owns the shard now writes its snapshots.
    if (claim === null) return;
    const fence = claim === 'alone' ? undefined : claim;
    try {
      live.eventsSinceSnapshot = 0;
      const kept = await this.deps.stores.snapshots.put(encodeSnapshot({ v: 1, key, userId, state }), fence);
      if (kept && state.lastEventId !== null) await this.deps.stores.log.trim(key, state.lastEventId, this.deps.config.actors.logKeep);
    } catch (err) {
      // The log still holds every event: a lost snapshot only lengthens the next rehydration.
      this.deps.onError(err, `snapshot ${key}`);
    }
  }

  /** Folds the entry into the actor's state unless it is in already; true when it was folded in. */
  private fold(live: LiveActor, entry: LogEntry): boolean {
    // Exactly once: an entry already folded in (by activation or catch-up) is not applied again.
    if (compareEventIds(entry.eventId, live.state.lastEventId) <= 0) return false;
    live.state = reduce(live.state, entry, this.deps.model(live.key).reducer);
    return true;
  }

  private apply(live: LiveActor, entry: LogEntry): void {
    if (!this.fold(live, entry)) return;
    live.lastActivityAt = this.now();
    if (live.actor.getSnapshot().matches({ live: { activity: 'idle' } })) live.actor.send({ type: 'TOUCH' });
    if (entry.kind === 'interaction') live.unscored.push(entry);
    if (++live.eventsSinceSnapshot >= this.deps.config.actors.snapshotEvery) void this.snapshot(live);
    this.scheduleScore(live);
  }

  /** At most one scoring pass per actor at a time; events arriving meanwhile get one more pass. */
  private scheduleScore(live: LiveActor): void {
    if (live.scoring) {
      live.rescore = true;
      return;
    }
    live.scoring = true;
    void this.scoreLoop(live);
  }

  private async scoreLoop(live: LiveActor): Promise<void> {
    try {
      do {
        live.rescore = false;
        const events = live.unscored;
        live.unscored = [];
        const state = live.state;
        const started = this.now();
        const model = this.deps.model(live.key);
        const list = await recommendForState(model.scorer, this.deps.catalog, state.eventCount === 0 ? null : state, this.deps.config.pushSize);
        if (model !== this.deps.model(live.key)) {
          // The model (or the key's arm) changed while scoring: nothing computed by the old one leaves after the swap.
          live.unscored.unshift(...events);
          live.rescore = true;
          continue;
        }
        this.deps.metrics.inferenceLatency.observe((this.now() - started) / 1000);
        if (list.fallback !== null) this.deps.metrics.inferenceFallbacks.inc({ reason: list.fallback });
        const ids = list.items.map((i) => i.itemId);
        if (this.stopped || live.forgotten || sameList(ids, live.lastPushedIds)) continue;
        live.lastPushedIds = ids;
        const latest = events.at(-1);
        const push = toPush(list, latest ?? null, model.arm);
        for (const listener of this.pushListeners) listener(live.key, push);
        this.deps.metrics.pushes.inc({ arm: push.arm });
        const pushedAt = this.now();
        // Kept for replay, which compares its lists with what was actually pushed.
        const record = { at: pushedAt, cause: latest?.eventId ?? null, items: ids, modelVersion: list.modelVersion, arm: push.arm, recommendationId: list.recommendationId };
        this.deps.stores.pushes.record(live.key, record).catch((err: unknown) => this.deps.onError(err, `record a push of ${live.key}`));
        for (const event of events) this.deps.metrics.eventToPush.observe({ arm: push.arm }, (pushedAt - event.receivedAt) / 1000);
      } while (live.rescore);
    } catch (err) {
      this.deps.onError(err, `scoring ${live.key}`);
    } finally {
      live.scoring = false;
    }
  }

  private owns(key: string): boolean {
    const shard = shardOf(key, this.deps.stores.shardCount);
    return !this.droppedShards.has(shard) && this.placement.claim(shard) !== null;
  }

  private async catchUp(live: LiveActor): Promise<void> {
    for (const entry of await this.deps.stores.log.read(live.key, live.state.lastEventId)) this.apply(live, entry);
  }

  private async wakeOwner(key: string): Promise<void> {
    try {
      await this.placement.wakeOwner(key);
    } catch (err) {
      // The events are in the log; the owner applies them at the key's next note or activation.
      this.deps.onError(err, `wake the owner of ${key}`);
    }
  }

  /**
   * Appends the event; with a dedup id (the client's event id, or a forwarding node's), once per
   * dedup window (a duplicate carries the first entry's id). `follows`: the entry came right after `previousId` (the live actor's
   * latest), so the actor may apply it as it is.
   */
  private async appendEvent(
    key: string,
    fresh: Omit<InteractionEntry, 'eventId'>,
    dedupId: string | undefined,
    previousId: string | null | undefined,
  ): Promise<{ entry: InteractionEntry; duplicate: boolean; follows: boolean }> {
    const { log } = this.deps.stores;
    if (dedupId === undefined) {
      if (previousId === undefined) return { entry: (await log.append(key, fresh)) as InteractionEntry, duplicate: false, follows: false };
      const { entry, follows } = await log.appendAfter(key, fresh, previousId);
      return { entry: entry as InteractionEntry, duplicate: false, follows };
    }
    const { eventId, duplicate, follows } = await log.appendOnce(key, fresh, dedupId, this.deps.config.actors.dedupWindowMs, previousId);
    return { entry: { ...fresh, eventId }, duplicate, follows };
  }

  private enrichment(itemId: string): { itemCategory?: string } {
    const item = this.deps.catalog.get(itemId);
    return item === undefined ? {} : { itemCategory: item.category };
  }
}

function sameList(a: readonly string[], b: readonly string[] | null): boolean {
  return b !== null && a.length === b.length && a.every((id, i) => id === b[i]);
}

function toPush(list: RecommendationList, cause: InteractionEntry | null, arm: Arm = 'live'): RecommendationsPush {
  return {
    items: list.items.map(({ itemId, score }) => ({ itemId, score })),
    recommendationId: list.recommendationId,
    modelVersion: list.modelVersion,
    arm,
    cause: cause === null ? null : { eventId: cause.eventId, eventType: cause.eventType, itemId: cause.itemId },
  };
}
