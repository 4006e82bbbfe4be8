import { ConfigError } from '../config.js';
import { explainFailure } from './failures.js';

/** What `attune` exits with, whatever the command. */
export const EXIT = {
  ok: 0,
  /** The command ran and could not do its work (bad data, a store or server that failed or refused). */
  failed: 1,
  /** A mistake in the command line or the environment: nothing was done. */
  usage: 2,
} as const;

export type ErrorClass = abstract new (...args: never[]) => Error;

/** The exit code for what a command threw: a ConfigError is a usage mistake; anything else, a failure. */
export function exitCodeOf(err: unknown): number {
  return err instanceof ConfigError ? EXIT.usage : EXIT.failed;
}

/**
 * Runs a command's body and turns what it throws into its exit code, printed the one way every
 * command prints it: a ConfigError with the command's usage; a failure a person fixes outside the
 * code (a port in use, a missing bundle, Redis unreachable: explainFailure) with what to change;
 * an error of one of `failures` (those whose message is all a person needs, such as bad data) as
 * its message. Anything else is a bug: it propagates, for main to print with its stack.
 */
export async function runCommand(command: string, usage: string, failures: readonly ErrorClass[], body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const explained = explainFailure(err);
    if (err instanceof ConfigError) process.stderr.write(`attune ${command}: ${err.message}\n\n${usage}`);
    else if (explained !== null) process.stderr.write(`attune ${command}: ${explained}\n`);
    else if (err instanceof Error && failures.some((failure) => err instanceof failure)) process.stderr.write(`attune ${command}: ${err.message}\n`);
    else throw err;
    return exitCodeOf(err);
  }
}
