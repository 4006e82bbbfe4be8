import { compareEventIds, type Stores } from '../store/types.js';
import type { Interaction } from '../model/types.js';

/** The log's interactions and the window they came from: the least and the greatest event id read (null: none). */
export interface LogTrainingData {
  interactions: Interaction[];
  firstEventId: string | null;
  lastEventId: string | null;
}

/**
 * The event log as training data: every logged interaction of every user and session key, live
 * or imported. A session's events count for the user it was identified as (its log stays under
 * the session key; the user's log holds only a merge entry for them), so nothing is counted
 * twice; a session never identified is a user of its own (`s:<sessionId>`). Merge entries carry
 * state, not events, and are skipped. Sorted by user, then time, then log order.
 */
export async function logInteractions(stores: Pick<Stores, 'log' | 'identities'>, onProgress?: (keys: number, total: number) => void): Promise<Interaction[]> {
  return (await logTrainingData(stores, onProgress)).interactions;
}

/** As logInteractions, with the training window for the model's lineage. */
export async function logTrainingData(stores: Pick<Stores, 'log' | 'identities'>, onProgress?: (keys: number, total: number) => void): Promise<LogTrainingData> {
  const keys = [...(await stores.log.keys('u:')), ...(await stores.log.keys('s:'))].sort();
  const out: Array<Interaction & { order: number }> = [];
  let order = 0;
  let firstEventId: string | null = null;
  let lastEventId: string | null = null;
  for (const [done, key] of keys.entries()) {
    const userId = key.startsWith('u:') ? key.slice(2) : ((await stores.identities.userOf(key.slice(2))) ?? key);
    for (const entry of await stores.log.read(key, null)) {
      if (entry.kind !== 'interaction') continue;
      // Ids are per key but all of the `<ms>-<seq>` form: across keys they order by when they were appended.
      if (firstEventId === null || compareEventIds(entry.eventId, firstEventId) < 0) firstEventId = entry.eventId;
      if (lastEventId === null || compareEventIds(entry.eventId, lastEventId) > 0) lastEventId = entry.eventId;
      const interaction: Interaction & { order: number } = { userId, itemId: entry.itemId, timestamp: entry.sentAt, eventType: entry.eventType, order: order++ };
      if (entry.eventValue !== undefined) interaction.eventValue = entry.eventValue;
      out.push(interaction);
    }
    if (onProgress !== undefined && ((done + 1) % 1000 === 0 || done + 1 === keys.length)) onProgress(done + 1, keys.length);
  }
  out.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : a.timestamp - b.timestamp || a.order - b.order));
  return { interactions: out.map(({ order: _, ...interaction }) => interaction), firstEventId, lastEventId };
}
