import { ConfigError, loadConfig, optionsHelp } from '../config.js';
import { runEvaluate } from './evaluate.js';
import { runTrain } from './train.js';
import { runReplay } from './replay.js';
import { runImport } from './import.js';
import { runKeys } from './keys.js';
import { startServer } from '../server/start.js';
import { EXIT, exitCodeOf } from './exit-codes.js';

const USAGE = `usage: attune <command> [options]

commands:
  serve     run the server (HTTP API, sockets, demo page)
  train     train a model bundle from interaction data (attune train --help)
  evaluate  measure a model offline against published protocols (attune evaluate --help)
  replay    run a session's or user's logged events again beside its recorded pushes (attune replay --help)
  import    bulk-import interactions, items and users (CSV or JSONL) into the cluster's Redis (attune import --help)
  keys      create, list and revoke API keys, in Redis or through a running server (attune keys --help)
  help      show this help

options (flag, environment variable, meaning):
${optionsHelp()}
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const server = await startServer(loadConfig(rest));
      const shutdown = (signal: string): void => {
        console.log(`attune: ${signal}, shutting down`);
        void server.close().then(() => process.exit(EXIT.ok));
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      return -1;
    }
    case 'train':
      return runTrain(rest);
    case 'evaluate':
      return runEvaluate(rest);
    case 'replay':
      return runReplay(rest);
    case 'import':
      return runImport(rest);
    case 'keys':
      return runKeys(rest);
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
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof ConfigError ? `attune: ${err.message}` : err);
    process.exitCode = exitCodeOf(err);
  },
);
