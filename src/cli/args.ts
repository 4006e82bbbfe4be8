import { performance } from 'node:perf_hooks';
import { ConfigError, OPTIONS, bool, mergeConfig, option, parseOptions, type AttuneConfig, type ConfigOverrides, type Environment, type Option, type Parser } from '../config.js';

/**
 * What every command's option table writes into: the part of the config its shared options set
 * (the cluster's Redis, its keys), and whether --help was asked; each command adds its own fields.
 */
export interface CommandFlags {
  config: ConfigOverrides;
  help: boolean;
}

export const HELP = option<boolean, CommandFlags>('help', [], 'this help', bool, (flags, value) => (flags.help = value));

/**
 * One of `attune serve`'s options (config's table) as a command takes it: the same flag,
 * environment variables, parser and setting, described in the command's words. `value` names the
 * value in the usage (URL, FILE).
 */
export function shared(flag: string, value: string | undefined, help: string): Option<CommandFlags> {
  const spec = OPTIONS.find((o) => o.flag === flag);
  if (spec === undefined) throw new Error(`config has no option --${flag}`);
  return { ...spec, help, ...(value === undefined ? {} : { value }), set: (flags, parsed) => spec.set(flags.config, parsed) };
}

/** An option read from the command line only: its environment variables are the server's, not the command's. */
export function commandLineOnly<T>(spec: Option<T>): Option<T> {
  return { ...spec, env: [] };
}

/**
 * Reads a command's argv (and the environment variables its options name) against its table
 * into `flags`. Returns the config its shared options make, checked as `attune serve` checks it,
 * the arguments that are not options (an error unless the command `takesArguments`), and the
 * flags given on the command line.
 */
export function parseCommandLine<T extends CommandFlags>(
  command: string,
  options: readonly Option<T>[],
  flags: T,
  argv: readonly string[],
  env: Environment,
  takesArguments = false,
): { config: AttuneConfig; positionals: string[]; given: ReadonlySet<string> } {
  const { positionals, given } = parseOptions(options, flags, argv, env, `attune ${command} --help`, takesArguments);
  return { config: mergeConfig(flags.config), positionals, given };
}

/** A command's usage: its synopsis, then one entry per option of its table. */
export function usage(synopsis: string, options: readonly Option<never>[]): string {
  return `${synopsis}\n${options.map(usageEntry).join('\n')}\n`;
}

const HELP_COLUMN = 23;

function usageEntry(option: Option<never>): string {
  const head = `--${option.flag}${option.value === undefined ? '' : ` ${option.value}`}`;
  const env = option.env.length === 0 ? '' : ` (or ${option.env.join(', ')})`;
  return `  ${head.padEnd(HELP_COLUMN - 3)} ${`${option.help}${env}`.split('\n').join(`\n${' '.repeat(HELP_COLUMN)}`)}`;
}

export const positiveNumber: Parser = (raw, source) => {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${source} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
};

export function required<V>(value: V | undefined, flag: string, why = ''): V {
  if (value === undefined) throw new ConfigError(`--${flag} is required${why}`);
  return value;
}

/** Progress lines on stderr, prefixed with the seconds since the command started. */
export function stderrLog(command: string): (message: string) => void {
  const started = performance.now();
  return (message) => process.stderr.write(`attune ${command} [${((performance.now() - started) / 1000).toFixed(1)} s] ${message}\n`);
}
