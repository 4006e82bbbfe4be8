import { Redis } from 'ioredis';

/** Calls per Redis command, as `INFO commandstats` counts them (commands run by scripts included). */
export type CommandCalls = Record<string, number>;

/** Parses `INFO commandstats`: `cmdstat_xadd:calls=12,usec=...` per line. */
export function parseCommandStats(info: string): CommandCalls {
  const calls: CommandCalls = {};
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match !== null) calls[match[1]] = Number(match[2]);
  }
  return calls;
}

/** One Redis's command counts now; null when it cannot be asked (the report then says '?'). */
export async function commandCalls(url: string): Promise<CommandCalls | null> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  try {
    await client.connect();
    return parseCommandStats(await client.info('commandstats'));
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

export interface CommandsPerEvent {
  /** Every command the window ran, over the events offered in it. */
  total: number;
  /** Without the snapshot writes (the budget leaves them out), which happen every K events. */
  excludingSnapshots: number;
  /** Per command, most frequent first; the stats reads themselves are left out. */
  byCommand: Record<string, number>;
  /**
   * What the cluster ran with no events at all, per second (lease renewals, heartbeats), from a
   * reading of the idle cluster before the load; null when there was none.
   */
  idlePerSecond: number | null;
  /**
   * `excludingSnapshots` less the idle rate over the window: what each event itself costs, the
   * figure that scales with the event rate. Null without an idle reading.
   */
  eventPath: number | null;
  eventPathByCommand: Record<string, number> | null;
}

/** Two readings of the idle cluster and the seconds between them. */
export interface IdleReading {
  before: CommandCalls;
  after: CommandCalls;
  seconds: number;
}

/** Calls per command between two readings; the readings' own INFO calls and connection setup left out. */
function callsBetween(before: CommandCalls, after: CommandCalls): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [command, calls] of Object.entries(after)) {
    if (command === 'info' || command.startsWith('client|')) continue;
    const n = calls - (before[command] ?? 0);
    if (n > 0) delta.set(command, n);
  }
  return delta;
}

/**
 * The calls of snapshot writes among `delta`. A snapshot write (every K events per actor, and at
 * passivation) runs the fenced put script (EVALSHA, HGET of the lease epoch, HGET of the stored
 * id, DEL, HSET) and then the trim script (EVALSHA, XREVRANGE, XTRIM): that much per HSET, which
 * nothing else on the event path issues. (The append script runs XREVRANGE too, so only one per
 * snapshot is the trim's.)
 */
function snapshotCalls(delta: ReadonlyMap<string, number>): number {
  const snapshots = delta.get('hset') ?? 0;
  const share = (command: string, each: number): number => Math.min(delta.get(command) ?? 0, snapshots * each);
  return snapshots + share('del', 1) + share('hget', 2) + share('evalsha', 2) + share('xrevrange', 1) + share('xtrim', 1);
}

/** Commands per event between two readings, and, given an idle reading, on the event path alone. */
export function commandsPerEvent(before: CommandCalls, after: CommandCalls, events: number, windowSeconds = 0, idle: IdleReading | null = null): CommandsPerEvent | null {
  if (events <= 0) return null;
  const delta = callsBetween(before, after);
  const per = (n: number): number => Math.round((n / events) * 1000) / 1000;
  const sorted = (calls: ReadonlyMap<string, number>): Record<string, number> =>
    Object.fromEntries([...calls.entries()].sort((a, b) => b[1] - a[1]).map(([command, n]) => [command, per(n)]));
  const sum = (calls: ReadonlyMap<string, number>): number => [...calls.values()].reduce((a, n) => a + n, 0);
  const total = sum(delta);
  const result: CommandsPerEvent = { total: per(total), excludingSnapshots: per(total - snapshotCalls(delta)), byCommand: sorted(delta), idlePerSecond: null, eventPath: null, eventPathByCommand: null };
  if (idle === null || idle.seconds <= 0 || windowSeconds <= 0) return result;
  const idleCalls = callsBetween(idle.before, idle.after);
  const onPath = new Map<string, number>();
  for (const [command, n] of delta) {
    const left = n - ((idleCalls.get(command) ?? 0) / idle.seconds) * windowSeconds;
    if (left > 0) onPath.set(command, left);
  }
  return {
    ...result,
    idlePerSecond: Math.round((sum(idleCalls) / idle.seconds) * 10) / 10,
    eventPath: per(sum(onPath) - snapshotCalls(onPath)),
    eventPathByCommand: sorted(onPath),
  };
}
