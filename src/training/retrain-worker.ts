import { parentPort, workerData } from 'node:worker_threads';
import { runRetrain, type RetrainInput } from './retrain-run.js';
import type { RetrainMessage } from './retrain-thread.js';

/*
 * The worker thread one retraining run executes in (see retrain-thread.ts): training and scoring
 * are long synchronous loops, which here block this thread only, never the serving node's.
 */
const port = parentPort;
if (port === null) throw new Error('retrain-worker.ts runs as a worker thread only');
const post = (message: RetrainMessage): void => port.postMessage(message);
runRetrain(workerData as RetrainInput, (message) => post({ type: 'log', message })).then(
  (outcome) => post({ type: 'done', outcome }),
  (err: unknown) => post({ type: 'failed', name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) }),
);
