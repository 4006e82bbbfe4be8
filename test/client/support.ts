import type { StorageLike } from '../../clients/js/src/types.js';
import { authHeaders } from '../helpers.js';

/** Web Storage's contract over a Map: what localStorage does, for the client in Node. */
export class MapStorage implements StorageLike {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

/** What a customer's backend does for getToken: POST /v1/tokens with its key, the body passed on. */
export async function requestToken(url: string, body: { sessionId: string; userId?: string; ttlSeconds?: number }, headers: Record<string, string> = authHeaders): Promise<{ token: string; expiresAt: number }> {
  const response = await fetch(`${url}/v1/tokens`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 201) throw new Error(`POST /v1/tokens answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { token: string; expiresAt: number };
}

/** The interactions in a key's log, in order, through GET /v1/admin/replay: `eventType itemId` each. */
export async function loggedEvents(url: string, who: { sessionId: string } | { userId: string }, headers: Record<string, string> = authHeaders): Promise<string[]> {
  const response = await fetch(`${url}/v1/admin/replay?${new URLSearchParams(who).toString()}`, { headers });
  if (response.status === 404) return [];
  if (response.status !== 200) throw new Error(`GET /v1/admin/replay answered ${response.status}: ${await response.text()}`);
  const timeline = (await response.json()) as { steps: Array<{ kind: string; eventType: string | null; itemId: string | null }> };
  return timeline.steps.filter((s) => s.kind === 'interaction').map((s) => `${s.eventType} ${s.itemId}`);
}
