import { access, constants } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

/** A command-line mistake: the command prints it with its usage and exits with code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** Flags taking a value (`--name value` or `--name=value`). */
  values: readonly string[];
  /** Flags taking a value that may be given several times. */
  repeated?: readonly string[];
  /** Flags without a value. */
  booleans: readonly string[];
}

export interface ParsedFlags {
  values: Map<string, string>;
  repeated: Map<string, string[]>;
  booleans: Set<string>;
}

/** Parses `--flag value` / `--flag=value` / `--switch`; anything else is a UsageError. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  const parsed: ParsedFlags = { values: new Map(), repeated: new Map(), booleans: new Set() };
  const repeated = spec.repeated ?? [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    if (spec.booleans.includes(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      parsed.booleans.add(name);
      continue;
    }
    if (!spec.values.includes(name) && !repeated.includes(name)) throw new UsageError(`unknown option --${name}`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`--${name} needs a value`);
    if (repeated.includes(name)) parsed.repeated.set(name, [...(parsed.repeated.get(name) ?? []), value]);
    else {
      if (parsed.values.has(name)) throw new UsageError(`--${name} is given twice`);
      parsed.values.set(name, value);
    }
  }
  return parsed;
}

export function required(flags: ParsedFlags, name: string, why = ''): string {
  const value = flags.values.get(name);
  if (value === undefined) throw new UsageError(`--${name} is required${why}`);
  return value;
}

export async function readableFile(path: string, flag: string): Promise<string> {
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new UsageError(`--${flag}: cannot read ${path}`);
  }
  return path;
}

export function positiveNumber(flags: ParsedFlags, name: string): number | undefined {
  const raw = flags.values.get(name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

/** Progress lines on stderr, prefixed with the seconds since the command started. */
export function stderrLog(command: string): (message: string) => void {
  const started = performance.now();
  return (message) => process.stderr.write(`attune ${command} [${((performance.now() - started) / 1000).toFixed(1)} s] ${message}\n`);
}
