import { ConfigError, optionsHelp } from '../config.js';
import { EXIT, exitCodeOf, runCommand } from './exit-codes.js';
import { serve } from './serve.js';

const USAGE = `usage: attune <command> [options]

commands:
  serve     run the server (HTTP API, sockets, demo page)
  train     train a model bundle from interaction data (attune train --help)
  evaluate  measure a model offline against published protocols (attune evaluate --help)
  replay    run a session's or user's logged events again beside its recorded pushes (attune replay --help)
  import    bulk-import interactions, items and users (CSV or JSONL) into the cluster's Redis (attune import --help)
  keys      create, list and revoke API keys, in Redis or through a running server (attune keys --help)
  models    list, register, promote, roll back and retire models in the cluster's registry (attune models --help)
  help      show this help

options (flag, environment variable, meaning):
${optionsHelp()}
`;

/** Each command's modules load only when it runs: `attune help` or a bad flag answers at once. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runCommand('serve', USAGE, [], () => serve(rest));
    case 'train':
      return (await import('./train.js')).runTrain(rest);
    case 'evaluate':
      return (await import('./evaluate.js')).runEvaluate(rest);
    case 'replay':
      return (await import('./replay.js')).runReplay(rest);
    case 'import':
      return (await import('./import.js')).runImport(rest);
    case 'keys':
      return (await import('./keys.js')).runKeys(rest);
    case 'models':
      return (await import('./models.js')).runModels(rest);
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return EXIT.ok;
    default:
      console.error(`attune: unknown command "${command}"\n\n${USAGE}`);
      return EXIT.usage;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve returns no code (SERVING): its node keeps the process alive until a signal.
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof ConfigError ? `attune: ${err.message}` : err);
    process.exitCode = exitCodeOf(err);
  },
);
