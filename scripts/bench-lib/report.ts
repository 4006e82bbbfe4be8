import type { LoadResult } from './load.js';
import type { UsageWindow } from './proc-stats.js';
import type { ServerView } from './prom.js';
import { round, roundOrNull, summarize, type LatencySummary } from './stats.js';

/** What one measured run reports: the load's outcome and the servers' CPU and memory over the window. */
export interface RunReport {
  offered: number;
  achievedRate: number;
  skipped: number;
  acked: number;
  ackErrors: number;
  ackErrorCodes: Record<string, number>;
  unacked: number;
  pushed: number;
  unchanged: number;
  eventToPushMs: LatencySummary;
  ackMs: LatencySummary;
  serverCpuPercent: number | null;
  serverCpuMsPerEvent: number | null;
  serverRssMB: number | null;
  serverRssPeakMB: number | null;
  benchCpuPercent: number;
  benchCpuMsPerEvent: number | null;
  benchLoopDelayMs: LoadResult['benchLoopDelayMs'];
  maxTickGapMs: number;
  disconnects: number;
  /** The whole machine over the window, % of one core: others > a few % means the numbers are noisy. */
  machine: ReturnType<UsageWindow['finish']>['machine'];
  /** Event-to-push split at the server's receive ms: inbound (emit -> append), outbound (append -> push arrival). */
  eventToPushSplitMs: LoadResult['splitMs'];
  perSecond: LoadResult['perSecond'];
  /** Attune only: its own /metrics over the window. */
  serverMetrics?: ServerView | null;
}

export function toReport(result: LoadResult, usage: ReturnType<UsageWindow['finish']> | null): RunReport {
  const seconds = result.windowMs / 1000;
  const perEvent = (ms: number | null): number | null => (ms === null || result.offered === 0 ? null : round(ms / result.offered, 4));
  return {
    offered: result.offered,
    achievedRate: seconds > 0 ? round(result.offered / seconds, 1) : 0,
    skipped: result.skipped,
    acked: result.acked,
    ackErrors: result.ackErrors,
    ackErrorCodes: result.ackErrorCodes,
    unacked: result.unacked,
    pushed: result.pushed,
    unchanged: result.unchanged,
    eventToPushMs: summarize(result.eventToPushMs),
    ackMs: summarize(result.ackMs),
    serverCpuPercent: usage?.serverCpuMs == null ? null : round((usage.serverCpuMs / usage.wallMs) * 100, 1),
    serverCpuMsPerEvent: perEvent(usage?.serverCpuMs ?? null),
    serverRssMB: roundOrNull(usage?.serverRssMB ?? null, 1),
    serverRssPeakMB: roundOrNull(usage?.serverRssPeakMB ?? null, 1),
    benchCpuPercent: usage === null ? 0 : round((usage.benchCpuMs / usage.wallMs) * 100, 1),
    benchCpuMsPerEvent: perEvent(usage?.benchCpuMs ?? null),
    benchLoopDelayMs: result.benchLoopDelayMs,
    maxTickGapMs: result.maxTickGapMs,
    disconnects: result.disconnects,
    machine: usage?.machine ?? null,
    eventToPushSplitMs: result.splitMs,
    perSecond: result.perSecond,
  };
}
