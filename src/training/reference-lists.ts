import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { basename } from 'node:path';
import { DatasetError } from './datasets.js';
import { MetricAccumulator, SESSION_METRICS, rankOf, type MetricSpec } from './eval-metrics.js';
import type { Interaction } from '../model/types.js';

/**
 * Recommendation lists another system produced for the test sessions, in session-rec's format:
 * `SessionId;Position;Recommendations;Scores`, Recommendations a comma-separated ranked list.
 * Position is 0-based: the list for Position q was made after the session's click q (0-based),
 * so its target is click q + 1, i.e. the case with a history of q + 1 clicks. (Checked on the
 * rsc15 files: against click q + 1 the four lists reach HR@20 0.56-0.61; against click q itself,
 * which they contain, 0.89-0.98.)
 */
export interface ReferenceRow {
  sessionId: string;
  /** 0-based Position of the file. */
  position: number;
  items: string[];
}

export async function readReferenceList(path: string): Promise<ReferenceRow[]> {
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  const rows: ReferenceRow[] = [];
  let columns: { session: number; position: number; items: number; count: number } | null = null;
  let number = 0;
  try {
    for await (const line of lines) {
      number++;
      if (line.trim() === '') continue;
      const fields = line.split(';');
      if (columns === null) {
        const names = fields.map((f) => f.trim());
        const find = (name: string): number => {
          const at = names.indexOf(name);
          if (at < 0) throw new DatasetError(path, number, `header lacks column ${name} (expected "SessionId;Position;Recommendations;Scores")`);
          return at;
        };
        columns = { session: find('SessionId'), position: find('Position'), items: find('Recommendations'), count: fields.length };
        continue;
      }
      if (fields.length !== columns.count) {
        throw new DatasetError(path, number, `expected ${columns.count} ;-separated fields, found ${fields.length}`);
      }
      const position = Number(fields[columns.position]);
      if (!Number.isInteger(position) || position < 0) {
        throw new DatasetError(path, number, `Position ${JSON.stringify(fields[columns.position])} is not a non-negative integer`);
      }
      const sessionId = fields[columns.session].trim();
      if (sessionId === '') throw new DatasetError(path, number, 'empty SessionId');
      const list = fields[columns.items].trim();
      rows.push({ sessionId, position, items: list === '' ? [] : list.split(',').map((id) => id.trim()) });
    }
  } finally {
    lines.close();
    input.destroy();
  }
  if (columns === null) throw new DatasetError(path, 1, 'empty file (expected a header "SessionId;Position;Recommendations;Scores")');
  return rows;
}

/** A reference algorithm's name from its file name: recoms_rsc15_100k_vsknn.csv -> vsknn. */
export function referenceName(path: string): string {
  const name = basename(path).replace(/\.[^.]*$/, '');
  const at = name.lastIndexOf('_');
  return at >= 0 ? name.slice(at + 1) : name;
}

/** Key of a session-protocol case: the session and the number of clicks in its history. */
export function caseKey(sessionId: string, prefix: number): string {
  return `${sessionId}\u0000${prefix}`;
}

export interface ReferenceScore {
  metrics: Record<string, number>;
  /** Rows scored (their case exists in the test data). */
  cases: number;
  /** Rows whose session or position is not in the test data (not scored). */
  unmatched: number;
  /** caseKey of every scored row. */
  keys: Set<string>;
}

/**
 * Scores a reference list under the session protocol: for the row of Position q, the target is
 * click q + 1 of that session; a target missing from the list is a miss (only the top K counts).
 */
export function scoreReferenceRows(
  rows: readonly ReferenceRow[],
  sessions: ReadonlyMap<string, readonly Interaction[]>,
  spec: MetricSpec = SESSION_METRICS,
): ReferenceScore {
  const metrics = new MetricAccumulator(spec);
  const keys = new Set<string>();
  let unmatched = 0;
  for (const row of rows) {
    const events = sessions.get(row.sessionId);
    const target = events?.[row.position + 1];
    if (target === undefined) {
      unmatched++;
      continue;
    }
    metrics.add(rankOf(row.items, target.itemId), row.items);
    keys.add(caseKey(row.sessionId, row.position + 1));
  }
  return { metrics: metrics.result(), cases: metrics.count, unmatched, keys };
}
