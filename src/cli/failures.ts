import { BundleError } from '../model/bundle.js';
import { StoreUnavailableError } from '../store/types.js';

/** What Node's net module adds to the error of a listen that failed. */
interface ListenError extends Error {
  code: string;
  syscall: 'listen';
  address: string;
  port: number;
}

function isListenError(err: unknown, code: string): err is ListenError {
  const fields = err as Partial<ListenError> | null;
  return err instanceof Error && fields?.syscall === 'listen' && fields.code === code;
}

/**
 * The failures a person fixes outside the code (a port taken, a model bundle missing, Redis not
 * reachable) as the one line a command prints for them: what happened, then what to change.
 * Null for anything else.
 */
export function explainFailure(err: unknown): string | null {
  if (isListenError(err, 'EADDRINUSE')) return `port ${err.port} on ${err.address} is in use: stop what listens there, or choose another port with --port (0 picks a free one)`;
  if (isListenError(err, 'EACCES')) return `port ${err.port} on ${err.address} needs privileges this process lacks: choose a port above 1023 with --port`;
  if (err instanceof BundleError) return `${err.message}: --model takes a bundle directory written by attune train (without --model, the demo model is trained and served)`;
  if (err instanceof StoreUnavailableError) return `${err.message}: start Redis there, or correct --redis (or --redis-cluster)`;
  return null;
}
