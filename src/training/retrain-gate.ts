/**
 * Whether a retrained candidate may replace the live model: both were scored on the same
 * held-out sessions (the most recent ones, which the candidate never saw), and the candidate is
 * promoted only when it is not worse than the live model by more than `margin` on the gate
 * metric. Pure: every input is given, so the decision can be tested and audited exactly.
 */

/** The metric the gate compares: session-rec's next-click hit rate (SESSION_METRICS). */
export const GATE_METRIC = 'HR@20';

/** Differences this small are float noise (0.49 vs 0.5 - 0.01), not a worse model. */
const TOLERANCE = 1e-9;

export interface GateInput {
  /** Metric name -> value of the candidate on the held-out cases. */
  candidate: Readonly<Record<string, number>>;
  /** The live model's metrics on the same cases. */
  live: Readonly<Record<string, number>>;
  /** Next-click cases both were scored on. */
  cases: number;
  /** Absolute: how much lower than the live model's the candidate's gate metric may be. */
  margin: number;
  metric?: string;
}

export interface GateDecision {
  promote: boolean;
  metric: string;
  candidate: number;
  live: number;
  /** candidate - live. */
  delta: number;
  margin: number;
  /** Why, in words, for the audit log. */
  reason: string;
}

export function gateDecision(input: GateInput): GateDecision {
  const metric = input.metric ?? GATE_METRIC;
  if (!(input.margin >= 0 && input.margin <= 1)) throw new RangeError(`margin must be from 0 to 1, got ${input.margin}`);
  const candidate = input.candidate[metric];
  const live = input.live[metric];
  if (candidate === undefined || live === undefined) throw new RangeError(`both models need ${metric}: candidate has ${candidate ?? 'none'}, live has ${live ?? 'none'}`);
  const delta = candidate - live;
  const base = { metric, candidate, live, delta, margin: input.margin };
  if (input.cases === 0) return { ...base, promote: false, reason: 'no held-out cases: nothing to compare the models on' };
  if (delta + input.margin >= -TOLERANCE) {
    return { ...base, promote: true, reason: `${metric} ${fmt(candidate)} vs live ${fmt(live)}: not worse by more than ${input.margin}` };
  }
  return { ...base, promote: false, reason: `${metric} ${fmt(candidate)} vs live ${fmt(live)}: worse by ${fmt(-delta)}, more than the margin ${input.margin}` };
}

function fmt(value: number): string {
  return value.toFixed(4);
}
