import { percentile } from './stats.js';

/**
 * A self-contained SVG of the runs' event-to-push latencies, hand-written so the bench needs no
 * plotting dependency: left, the CDF on a log-ms axis; right, the percentile spectrum (latency at
 * 50%, 90%, 99%, 99.9%...), where tails differ most.
 */
export interface Series {
  name: string;
  color: string;
  sortedMs: Float64Array;
}

const WIDTH = 1000;
const HEIGHT = 470;
const PANEL = { top: 80, height: 320, width: 400 };
const LEFT_X = 70;
const RIGHT_X = 560;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** For legends: enough digits to compare runs. */
function fmt(ms: number): string {
  return ms >= 10 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(2);
}

/** For axis ticks: 0.1, 0.2, 1, 20, 1000 (no trailing zeros). */
function tickLabel(ms: number): string {
  return String(Number(ms.toPrecision(2)));
}

/** Decade ticks 1-2-5 between lo and hi (ms); only the decades are labelled on wide ranges, so labels never collide. */
function logTicks(lo: number, hi: number): Array<{ value: number; label: string }> {
  const wide = Math.log10(hi / lo) > 3;
  const ticks: Array<{ value: number; label: string }> = [];
  for (let decade = Math.floor(Math.log10(lo)); decade <= Math.ceil(Math.log10(hi)); decade++) {
    for (const m of [1, 2, 5]) {
      const value = m * 10 ** decade;
      if (value >= lo * 0.999 && value <= hi * 1.001) ticks.push({ value, label: wide && m !== 1 ? '' : tickLabel(value) });
    }
  }
  return ticks;
}

function range(series: readonly Series[], targetMs: number): { lo: number; hi: number } {
  let lo = Infinity;
  let hi = targetMs * 2;
  for (const s of series) {
    if (s.sortedMs.length === 0) continue;
    lo = Math.min(lo, s.sortedMs[0]);
    hi = Math.max(hi, s.sortedMs[s.sortedMs.length - 1]);
  }
  lo = Number.isFinite(lo) ? Math.max(0.01, lo) : 0.1;
  return { lo: 10 ** Math.floor(Math.log10(lo)), hi: 10 ** Math.ceil(Math.log10(hi)) };
}

function cdfPanel(series: readonly Series[], targetMs: number, lo: number, hi: number): string {
  const x = (ms: number): number => LEFT_X + ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PANEL.width;
  const y = (q: number): number => PANEL.top + (1 - q) * PANEL.height;
  const parts: string[] = [`<text x="${LEFT_X}" y="${PANEL.top - 12}" class="h">CDF of event-to-push (log ms)</text>`];
  for (const { value, label } of logTicks(lo, hi)) {
    parts.push(`<line x1="${x(value)}" y1="${PANEL.top}" x2="${x(value)}" y2="${PANEL.top + PANEL.height}" class="g"/>`);
    parts.push(`<text x="${x(value)}" y="${PANEL.top + PANEL.height + 16}" class="t" text-anchor="middle">${label}</text>`);
  }
  // Linear quantiles: p99 is unreadable here, which is what the right panel is for.
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    parts.push(`<line x1="${LEFT_X}" y1="${y(q)}" x2="${LEFT_X + PANEL.width}" y2="${y(q)}" class="g"/>`);
    parts.push(`<text x="${LEFT_X - 6}" y="${y(q) + 4}" class="t" text-anchor="end">${q}</text>`);
  }
  parts.push(`<line x1="${x(targetMs)}" y1="${PANEL.top}" x2="${x(targetMs)}" y2="${PANEL.top + PANEL.height}" class="target"/>`);
  for (const s of series) {
    const n = s.sortedMs.length;
    if (n === 0) continue;
    const steps = Math.min(n, 500);
    const points: string[] = [];
    for (let i = 0; i < steps; i++) {
      const index = Math.round((i * (n - 1)) / Math.max(1, steps - 1));
      points.push(`${x(s.sortedMs[index]).toFixed(1)},${y((index + 1) / n).toFixed(1)}`);
    }
    parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
  }
  parts.push(`<text x="${LEFT_X + PANEL.width / 2}" y="${PANEL.top + PANEL.height + 34}" class="t" text-anchor="middle">ms from emit to the push caused by the event</text>`);
  return parts.join('\n');
}

/** x: the number of nines in the percentile (0 = p0, 1 = p90, 2 = p99, 3 = p99.9, 4 = p99.99). */
function spectrumPanel(series: readonly Series[], targetMs: number, lo: number, hi: number): string {
  const maxNines = 4;
  const x = (nines: number): number => RIGHT_X + (nines / maxNines) * PANEL.width;
  const y = (ms: number): number =>
    PANEL.top + PANEL.height - ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PANEL.height;
  const parts: string[] = [`<text x="${RIGHT_X}" y="${PANEL.top - 12}" class="h">Latency by percentile (log ms)</text>`];
  for (const [nines, label] of [[0, 'p0'], [Math.log10(2), 'p50'], [1, 'p90'], [2, 'p99'], [3, 'p99.9'], [4, 'p99.99']] as const) {
    parts.push(`<line x1="${x(nines)}" y1="${PANEL.top}" x2="${x(nines)}" y2="${PANEL.top + PANEL.height}" class="g"/>`);
    parts.push(`<text x="${x(nines)}" y="${PANEL.top + PANEL.height + 16}" class="t" text-anchor="middle">${label}</text>`);
  }
  for (const { value } of logTicks(lo, hi)) {
    parts.push(`<line x1="${RIGHT_X}" y1="${y(value)}" x2="${RIGHT_X + PANEL.width}" y2="${y(value)}" class="g"/>`);
    parts.push(`<text x="${RIGHT_X - 6}" y="${y(value) + 4}" class="t" text-anchor="end">${tickLabel(value)}</text>`);
  }
  parts.push(`<line x1="${RIGHT_X}" y1="${y(targetMs)}" x2="${RIGHT_X + PANEL.width}" y2="${y(targetMs)}" class="target"/>`);
  parts.push(`<text x="${RIGHT_X + PANEL.width - 4}" y="${y(targetMs) - 4}" class="t" text-anchor="end" fill="#c00">target ${targetMs} ms</text>`);
  for (const s of series) {
    const n = s.sortedMs.length;
    if (n === 0) continue;
    // Beyond 1/n the percentiles are all the max: stop the line there.
    const lastNines = Math.min(maxNines, Math.log10(n));
    const points: string[] = [];
    for (let nines = 0; nines <= lastNines + 1e-9; nines += 0.02) {
      const value = percentile(s.sortedMs, 1 - 10 ** -nines);
      if (value !== null) points.push(`${x(nines).toFixed(1)},${y(value).toFixed(1)}`);
    }
    parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
  }
  return parts.join('\n');
}

export function latencySvg(title: string, subtitle: string, series: readonly Series[], targetMs: number): string {
  const { lo, hi } = range(series, targetMs);
  const legend = series
    .map((s, i) => {
      const p50 = percentile(s.sortedMs, 0.5);
      const p99 = percentile(s.sortedMs, 0.99);
      const stats = p50 === null || p99 === null ? 'no samples' : `p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms, n=${s.sortedMs.length}`;
      const lx = LEFT_X + i * 460;
      return `<rect x="${lx}" y="${HEIGHT - 28}" width="14" height="4" fill="${s.color}"/><text x="${lx + 20}" y="${HEIGHT - 22}" class="t">${escapeXml(`${s.name}: ${stats}`)}</text>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, sans-serif">
<style>.h{font-size:14px;font-weight:600}.t{font-size:11px;fill:#333}.g{stroke:#ddd;stroke-width:1}.target{stroke:#c00;stroke-width:1;stroke-dasharray:4 3}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${LEFT_X}" y="24" font-size="16" font-weight="700">${escapeXml(title)}</text>
<text x="${LEFT_X}" y="42" class="t">${escapeXml(subtitle)}</text>
${cdfPanel(series, targetMs, lo, hi)}
${spectrumPanel(series, targetMs, lo, hi)}
${legend}
</svg>
`;
}
