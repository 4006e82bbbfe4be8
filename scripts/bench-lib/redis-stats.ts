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
}

/**
 * Commands per event between two readings. A snapshot write (every K events per actor, and at
 * passivation) runs the fenced put script (EVALSHA, HGET of the lease epoch, HGET of the stored
 * id, DEL, HSET) and then the trim script (EVALSHA, XREVRANGE, XTRIM): `excludingSnapshots`
 * takes that much out per HSET, which nothing else on the event path issues.
 */
export function commandsPerEvent(before: CommandCalls, after: CommandCalls, events: number): CommandsPerEvent | null {
  if (events <= 0) return null;
  const delta = new Map<string, number>();
  for (const [command, calls] of Object.entries(after)) {
    // The readings' own INFO calls, and the reader's connection setup.
    if (command === 'info' || command.startsWith('client|')) continue;
    const n = calls - (before[command] ?? 0);
    if (n > 0) delta.set(command, n);
  }
  const diff = [...delta.entries()].sort((a, b) => b[1] - a[1]);
  const total = diff.reduce((sum, [, n]) => sum + n, 0);
  const snapshots = delta.get('hset') ?? 0;
  const share = (command: string, each: number): number => Math.min(delta.get(command) ?? 0, snapshots * each);
  const ofSnapshots = snapshots + share('del', 1) + share('hget', 2) + share('evalsha', 2) + (delta.get('xrevrange') ?? 0) + (delta.get('xtrim') ?? 0);
  const per = (n: number): number => Math.round((n / events) * 1000) / 1000;
  return { total: per(total), excludingSnapshots: per(total - ofSnapshots), byCommand: Object.fromEntries(diff.map(([command, n]) => [command, per(n)])) };
}
