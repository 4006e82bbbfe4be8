/**
 * Issue 12's targets for the scale-out path. Each compares the cluster with a baseline measured
 * in the same run (these machines are noisy), except the latency bound and the command count.
 */
export const SCALE_OUT_TARGETS = { minRate: 500, crossNodeP99Ms: 10, clusterCpuVsSingle: 1.5, commandsPerEvent: 2, singleCpuVsEcho: 2 } as const;

export interface TargetCheck {
  what: string;
  value: number | null;
  /** The value must be at most (`<=`) or at least (`>=`) this. */
  op: '<=' | '>=';
  limit: number;
  met: boolean;
}

export interface ScaleOutVerdict {
  met: boolean;
  checks: TargetCheck[];
}

export interface ScaleOutMeasures {
  achievedRate: number;
  crossNodeP99Ms: number | null;
  clusterCpuMsPerEvent: number | null;
  singleCpuMsPerEvent: number | null;
  echoCpuMsPerEvent: number | null;
  /** Redis commands per event on the event path without snapshots (the idle cluster's share taken out where it was measured). */
  commandsPerEvent: number | null;
  /** Events refused or never answered during the window. */
  failedEvents: number;
}

function check(what: string, value: number | null, op: '<=' | '>=', limit: number): TargetCheck {
  const met = value !== null && (op === '<=' ? value <= limit : value >= limit);
  return { what, value, op, limit, met };
}

function ratioOf(a: number | null, b: number | null): number | null {
  return a === null || b === null || b <= 0 ? null : Math.round((a / b) * 100) / 100;
}

export function scaleOutVerdict(m: ScaleOutMeasures): ScaleOutVerdict {
  const t = SCALE_OUT_TARGETS;
  const checks = [
    // 1% short of the offered rate is scheduling jitter, not a slower cluster.
    check('events acked per second', m.achievedRate, '>=', t.minRate * 0.99),
    check('cross-node event-to-push p99 (ms)', m.crossNodeP99Ms, '<=', t.crossNodeP99Ms),
    check('cluster CPU per event / single node CPU per event', ratioOf(m.clusterCpuMsPerEvent, m.singleCpuMsPerEvent), '<=', t.clusterCpuVsSingle),
    check('Redis commands per event (event path, no snapshots)', m.commandsPerEvent, '<=', t.commandsPerEvent),
    check('single node CPU per event / echo server CPU per event', ratioOf(m.singleCpuMsPerEvent, m.echoCpuMsPerEvent), '<=', t.singleCpuVsEcho),
    check('events refused or unanswered', m.failedEvents, '<=', 0),
  ];
  return { met: checks.every((c) => c.met), checks };
}

/** `p99 20.3 > 10 ms` style, one per check, for the summary line. */
export function describeChecks(verdict: ScaleOutVerdict): string {
  return verdict.checks.map((c) => `${c.what} ${c.value ?? '?'} ${c.met ? 'ok' : `NOT ${c.op} ${c.limit}`}`).join(', ');
}
