import { loadConfig, processEnvironment, type Environment } from '../config.js';
import { EXIT } from './exit-codes.js';

/** What `attune serve` returns once the node listens: no exit code yet, the process lives until a signal. */
export const SERVING = -1;

/** `attune serve`: starts a node and closes it on SIGINT or SIGTERM. */
export async function serve(argv: readonly string[], env: Environment = processEnvironment()): Promise<number> {
  const config = loadConfig(argv, env);
  // Loaded once the flags are known good: a mistake in them is answered before onnxruntime and fastify load.
  const { startServer } = await import('../server/start.js');
  const server = await startServer(config);
  const shutdown = (signal: string): void => {
    console.log(`attune: ${signal}, shutting down`);
    void server.close().then(() => process.exit(EXIT.ok));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  return SERVING;
}
