import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The repository root, for the deploy files under test. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A command-line tool's path: `override` (an environment variable's value) when set, else the
 * first executable `name` on PATH; null when there is none, and the check that needs it skips.
 */
export function findTool(name: string, override?: string): string | null {
  if (override !== undefined && override !== '') return override;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool to its end; a non-zero exit is a result, not an error. */
export function runTool(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') return reject(err);
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
  });
}

/** A YAML file of the repository, parsed (paths relative to the root). */
export function readYaml(path: string): unknown {
  return parse(readFileSync(join(ROOT, path), 'utf8'));
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
