import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DatasetError, InsufficientDataError, readInteractions, readRsc15 } from '../training/datasets.js';
import { evaluateLeaveOneOut, type LeaveOneOutReport } from '../training/leave-one-out.js';
import { evaluateSessionsReport, type NamedReference, type SessionReport } from '../training/session-protocol.js';
import { readReferenceList, referenceName } from '../training/reference-lists.js';
import { ConfigError, bool, option, processEnvironment, readablePath, text, type Environment, type Option } from '../config.js';
import { HELP, parseCommandLine, positiveNumber, required, stderrLog, usage, type CommandFlags } from './args.js';
import { runCommand } from './exit-codes.js';

interface EvaluateFlags extends CommandFlags {
  data?: string;
  format?: string;
  train?: string;
  test?: string;
  references?: string[];
  budget?: number;
  embeddings: boolean;
  json: boolean;
}

const EVALUATE_OPTIONS: readonly Option<EvaluateFlags>[] = [
  option<string, EvaluateFlags>('data', [], 's3rec or csv: the interactions', text, (f, v) => (f.data = v), 'FILE'),
  option<string, EvaluateFlags>('format', [], 's3rec, csv or rsc15', text, (f, v) => (f.format = v), 'FORMAT'),
  option<string, EvaluateFlags>('train', [], 'rsc15: the training sessions', text, (f, v) => (f.train = v), 'FILE'),
  option<string, EvaluateFlags>('test', [], 'rsc15: the test sessions', text, (f, v) => (f.test = v), 'FILE'),
  option<string, EvaluateFlags>('reference', [], 'rsc15: a reference list, once per list', text, (f, v) => (f.references = [...(f.references ?? []), v]), 'FILE'),
  option<boolean, EvaluateFlags>('json', [], 'one JSON object on stdout instead of a table', bool, (f, v) => (f.json = v)),
  option<number, EvaluateFlags>('budget', [], 'time budget for tuning and training (default 240)', positiveNumber, (f, v) => (f.budget = v), 'SECONDS'),
  option<boolean, EvaluateFlags>('no-embeddings', [], 'item-item only (no low-rank embedding part)', bool, (f, v) => (f.embeddings = !v)),
  HELP,
];

export const EVALUATE_USAGE = usage(
  `usage: attune evaluate --data FILE --format s3rec|csv [options]
       attune evaluate --format rsc15 --train FILE --test FILE [--reference FILE ...] [options]

Leave-one-out (s3rec, csv): tunes on each user's second-to-last item, trains on all but the last
two, scores every item for the last one (the user's history excluded) through the serving path
(reducer -> model input -> ONNX bundle), beside a popularity baseline. Reports HR@5/10/20,
NDCG@5/10/20, MRR@25 and Coverage@10.

Sessions (rsc15, session-rec's protocol): trains on --train, predicts every next click of the
--test sessions (history not excluded), reports HR@20 and MRR@20 beside reference lists
(session-rec's SessionId;Position;Recommendations;Scores files; by default every .csv in
../recommendations next to the test file) scored on the same cases.
`,
  EVALUATE_OPTIONS,
);

const LOO_KEYS = ['HR@5', 'HR@10', 'HR@20', 'NDCG@5', 'NDCG@10', 'NDCG@20', 'MRR@25', 'Coverage@10'] as const;

/** The JSON object `attune evaluate --json` prints for a leave-one-out data set. */
export function leaveOneOutJson(report: LeaveOneOutReport): Record<string, unknown> {
  const pick = (metrics: Record<string, number>): Record<string, number> => Object.fromEntries(LOO_KEYS.map((k) => [k, metrics[k]]));
  return {
    dataset: report.dataset,
    users: report.users,
    items: report.items,
    trainSeconds: round(report.trainSeconds, 2),
    evaluateSeconds: round(report.evaluateSeconds, 2),
    metrics: pick(report.metrics),
    baseline: { popularity: pick(report.baseline.popularity) },
    validation: pick(report.validation),
    algorithm: report.algorithm,
    historyLength: report.historyLength,
    reducer: report.reducer,
    parameters: report.parameters,
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map((cell) => (typeof cell === 'number' ? cell.toFixed(4) : cell)))];
  const widths = header.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n') + '\n';
}

export function leaveOneOutTable(report: LeaveOneOutReport): string {
  const lines = [
    `${report.dataset}: ${report.users} users, ${report.items} items, ${report.interactions} interactions; ` +
      `trained in ${report.trainSeconds.toFixed(1)} s, evaluated in ${report.evaluateSeconds.toFixed(1)} s (${report.algorithm}, L ${report.historyLength})`,
    '',
    table(
      ['metric (test)', 'ours', 'popularity', 'ours (validation)'],
      LOO_KEYS.map((k) => [k, report.metrics[k], report.baseline.popularity[k], report.validation[k]]),
    ),
  ];
  return lines.join('\n');
}

export function sessionTable(report: SessionReport): string {
  const rows: (string | number)[][] = [
    [`ours (all ${report.cases} cases)`, report.cases, report.metrics['HR@20'], report.metrics['MRR@20']],
    ['popularity (all cases)', report.cases, report.baseline.popularity['HR@20'], report.baseline.popularity['MRR@20']],
  ];
  for (const [name, ref] of Object.entries(report.references)) {
    rows.push([`${name}`, ref.cases, ref.metrics['HR@20'], ref.metrics['MRR@20']]);
    rows.push([`ours on ${name}'s cases`, ref.cases, ref.ours['HR@20'], ref.ours['MRR@20']]);
  }
  return (
    `${report.dataset}: ${report.trainSessions} training sessions, ${report.testSessions} test sessions, ${report.items} items; ` +
    `trained in ${report.trainSeconds.toFixed(1)} s, evaluated in ${report.evaluateSeconds.toFixed(1)} s (${report.algorithm}, L ${report.historyLength})\n` +
    `next-click protocol of session-rec: history items are not excluded\n\n` +
    table(['', 'cases', 'HR@20', 'MRR@20'], rows.map((r) => [r[0], String(r[1]), r[2], r[3]]))
  );
}

/** session-rec's layout: <dir>/prepared/<test> and <dir>/recommendations/*.csv. */
async function defaultReferences(testPath: string): Promise<string[]> {
  const dir = join(dirname(testPath), '..', 'recommendations');
  try {
    return (await readdir(dir)).filter((name) => name.endsWith('.csv')).sort().map((name) => join(dir, name));
  } catch {
    return [];
  }
}

/** `attune evaluate ...`; returns the exit code (2: bad arguments, 1: bad data). */
export function runEvaluate(argv: readonly string[], env: Environment = processEnvironment()): Promise<number> {
  return runCommand('evaluate', EVALUATE_USAGE, [DatasetError, InsufficientDataError], () => evaluate(argv, env));
}

async function evaluate(argv: readonly string[], env: Environment): Promise<number> {
  const log = stderrLog('evaluate');
  const flags: EvaluateFlags = { config: {}, help: false, embeddings: true, json: false };
  parseCommandLine('evaluate', EVALUATE_OPTIONS, flags, argv, env);
  if (flags.help) {
    process.stdout.write(EVALUATE_USAGE);
    return 0;
  }
  const format = required(flags.format, 'format', ' (s3rec, csv or rsc15)');
  const { budget } = flags;
  const common = {
    embeddings: flags.embeddings,
    ...(budget === undefined ? {} : { budgetMs: budget * 1000 }),
    log,
  };
  const { json } = flags;
  if (format === 's3rec' || format === 'csv') {
    for (const [flag, given] of [['train', flags.train], ['test', flags.test]]) if (given !== undefined) throw new ConfigError(`--${flag} is for --format rsc15; use --data`);
    if (flags.references !== undefined) throw new ConfigError('--reference is for --format rsc15');
    const dataPath = readablePath(required(flags.data, 'data'), '--data');
    log(`reading ${dataPath} (${format})`);
    const interactions = await readInteractions(dataPath, format, { onProgress: (lines) => log(`read ${lines} lines`) });
    const report = await evaluateLeaveOneOut(interactions, {
      ...common,
      dataset: basename(dataPath).replace(/\.[^.]*$/, ''),
      tuneHalfLife: format === 'csv',
    });
    process.stdout.write(json ? JSON.stringify(leaveOneOutJson(report)) + '\n' : leaveOneOutTable(report));
    return 0;
  }
  if (format === 'rsc15') {
    if (flags.data !== undefined) throw new ConfigError('--format rsc15 takes --train and --test, not --data');
    const trainPath = readablePath(required(flags.train, 'train', ' with --format rsc15'), '--train');
    const testPath = readablePath(required(flags.test, 'test', ' with --format rsc15'), '--test');
    const referencePaths = flags.references ?? (await defaultReferences(testPath));
    for (const path of referencePaths) readablePath(path, '--reference');
    log(`reading ${trainPath} and ${testPath}`);
    const [train, test] = await Promise.all([readRsc15(trainPath), readRsc15(testPath)]);
    const references: NamedReference[] = [];
    for (const path of referencePaths) references.push({ name: referenceName(path), rows: await readReferenceList(path) });
    if (references.length > 0) log(`reference lists: ${references.map((r) => `${r.name} (${r.rows.length} rows)`).join(', ')}`);
    const report = await evaluateSessionsReport(train, test, references, {
      ...common,
      dataset: basename(testPath).replace(/_test\.txt$|\.[^.]*$/g, ''),
      tuneHalfLife: true,
    });
    process.stdout.write(json ? JSON.stringify(sessionJson(report)) + '\n' : sessionTable(report));
    return 0;
  }
  throw new ConfigError(`--format must be s3rec, csv or rsc15, got ${JSON.stringify(format)}`);
}

export function sessionJson(report: SessionReport): Record<string, unknown> {
  return {
    ...report,
    trainSeconds: round(report.trainSeconds, 2),
    evaluateSeconds: round(report.evaluateSeconds, 2),
  };
}
