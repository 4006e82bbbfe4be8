import { Worker } from 'node:worker_threads';
import type { RetrainInput, RetrainOutcome } from './retrain-run.js';

/** What the worker posts back. */
export type RetrainMessage = { type: 'log'; message: string } | { type: 'done'; outcome: RetrainOutcome } | { type: 'failed'; name: string; message: string };

/** The run did not finish within its budget; the worker was stopped. */
export class RetrainBudgetError extends Error {
  override name = 'RetrainBudgetError';
}

/** The run failed inside the worker (its error's name and message, the stack stays there). */
export class RetrainFailedError extends Error {
  constructor(
    readonly causeName: string,
    message: string,
  ) {
    super(message);
    this.name = 'RetrainFailedError';
  }
}

// The worker is this module's sibling: .ts under the test runner's loader, .js once built.
const WORKER_URL = new URL(`./retrain-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export interface RetrainThread {
  result: Promise<RetrainOutcome>;
  /** Stops the worker (a node shutting down); `result` rejects. */
  stop(): Promise<void>;
}

/**
 * Runs one retraining (src/training/retrain-run.ts) in a worker thread, so that the serving
 * node's event loop keeps answering while it trains. A run still going after `budgetMs` is
 * stopped and rejects with RetrainBudgetError.
 */
export function retrainInThread(input: RetrainInput, options: { budgetMs: number; log?: (message: string) => void }): RetrainThread {
  const worker = new Worker(WORKER_URL, { workerData: input });
  let settled = false;
  const result = new Promise<RetrainOutcome>((resolve, reject) => {
    const finish = (outcome: { ok: RetrainOutcome } | { err: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if ('ok' in outcome) resolve(outcome.ok);
      else reject(outcome.err);
    };
    const timer = setTimeout(() => finish({ err: new RetrainBudgetError(`retraining did not finish within its budget of ${options.budgetMs / 1000} s`) }), options.budgetMs);
    worker.on('message', (message: RetrainMessage) => {
      if (message.type === 'log') options.log?.(message.message);
      else if (message.type === 'done') finish({ ok: message.outcome });
      else finish({ err: new RetrainFailedError(message.name, message.message) });
    });
    worker.on('error', (err) => finish({ err }));
    worker.on('exit', (code) => finish({ err: new RetrainFailedError('Exit', `the retraining worker exited (code ${code}) before it answered`) }));
  });
  return {
    result,
    stop: async () => {
      await worker.terminate();
    },
  };
}
