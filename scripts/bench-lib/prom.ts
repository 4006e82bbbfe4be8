import { round } from './stats.js';

/**
 * Attune's own view of the measured window, from two scrapes of its /metrics: how much of the
 * client-side event-to-push the server accounts for, and where inside the server it goes.
 */
/** prom-client's default eventLoopMonitoringPrecision. */
const PROM_LOOP_RESOLUTION_MS = 10;

export type Scrape = Map<string, number>;

export interface ServerView {
  /** Server-side receive -> publish (attune_event_to_push_seconds); bucket bounds, not exact. */
  eventToPushMs: HistogramView;
  /** One scoring request incl. waiting for its micro-batch (attune_inference_latency_seconds). */
  inferenceMs: HistogramView;
  inferenceFallbacks: Record<string, number>;
  pushes: number;
  eventsAccepted: number;
  /** The server's event-loop delay beyond its 10 ms sampling timer, between the two scrapes (prom-client resets it per scrape). */
  eventLoopDelayMs: { p50: number | null; p99: number | null; max: number | null };
  gcMs: number | null;
}

export interface HistogramView {
  count: number;
  mean: number | null;
  /** Upper bound of the bucket holding the percentile: "p99 <= this". */
  p50AtMost: number | null;
  p99AtMost: number | null;
}

export async function scrape(url: string): Promise<Scrape | null> {
  try {
    const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) return null;
    return parse(await response.text());
  } catch {
    return null;
  }
}

/** Prometheus text format, one sample per line; the series (name + labels) is the key. */
function parse(text: string): Scrape {
  const samples: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value) || line.endsWith('+Inf')) samples.set(line.slice(0, space), value);
  }
  return samples;
}

function delta(before: Scrape, after: Scrape, series: string): number {
  return (after.get(series) ?? 0) - (before.get(series) ?? 0);
}

function sumDelta(before: Scrape, after: Scrape, prefix: string): number {
  let total = 0;
  for (const series of after.keys()) if (series.startsWith(prefix)) total += delta(before, after, series);
  return total;
}

function histogram(before: Scrape, after: Scrape, name: string): HistogramView {
  const count = delta(before, after, `${name}_count`);
  const sum = delta(before, after, `${name}_sum`);
  const buckets: Array<[number, number]> = [];
  for (const series of after.keys()) {
    const match = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(series);
    if (match) buckets.push([Number(match[1]), delta(before, after, series)]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const atMost = (q: number): number | null => {
    if (count === 0) return null;
    const bucket = buckets.find(([, cumulative]) => cumulative >= q * count);
    return bucket === undefined ? null : bucket[0] * 1000;
  };
  return { count, mean: count > 0 ? round((sum / count) * 1000) : null, p50AtMost: atMost(0.5), p99AtMost: atMost(0.99) };
}

export function serverView(before: Scrape, after: Scrape): ServerView {
  const fallbacks: Record<string, number> = {};
  for (const series of after.keys()) {
    const match = /^attune_inference_fallbacks_total\{reason="([^"]+)"\}$/.exec(series);
    if (match) fallbacks[match[1]] = delta(before, after, series);
  }
  // prom-client samples with a 10 ms timer and reports whole intervals: the delay is the excess.
  const gauge = (name: string): number | null => {
    const value = after.get(`attune_process_nodejs_eventloop_lag_${name}_seconds`);
    return value === undefined ? null : round(Math.max(0, value * 1000 - PROM_LOOP_RESOLUTION_MS));
  };
  const gc = sumDelta(before, after, 'attune_process_nodejs_gc_duration_seconds_sum');
  return {
    eventToPushMs: histogram(before, after, 'attune_event_to_push_seconds'),
    inferenceMs: histogram(before, after, 'attune_inference_latency_seconds'),
    inferenceFallbacks: fallbacks,
    pushes: delta(before, after, 'attune_pushes_total'),
    eventsAccepted: delta(before, after, 'attune_events_accepted_total'),
    eventLoopDelayMs: { p50: gauge('p50'), p99: gauge('p99'), max: gauge('max') },
    gcMs: round(gc * 1000),
  };
}
