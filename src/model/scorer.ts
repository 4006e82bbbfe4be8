import ort from 'onnxruntime-node';
import { MODEL_CONTRACT, type ModelInput, type ModelManifest, type ScoredItem } from './types.js';
import { readBundle, type Bundle, type PopularityEntry } from './bundle.js';
import { encodeHistory, type EncodedHistory } from './input-encoding.js';

export interface ScorerOptions {
  /** onnxruntime intra-op threads. run() blocks the event loop, so more threads only help large batches. */
  intraOpThreads?: number;
  /** Most rows one session.run takes; a full queue is flushed at once rather than at the next check phase. */
  maxBatch?: number;
  /** A batch not answered this long after its flush fails with ScoringTimeoutError. */
  timeoutMs?: number;
}

export interface ScorerStats {
  /** session.run calls made. */
  runs: number;
  /** Rows (score requests) sent across all runs. */
  rows: number;
  /** Largest batch run so far. */
  maxBatch: number;
  /** Runs that failed or ran late in a row since the last good one: what readiness looks at. */
  failedInARow: number;
}

export type FallbackReason = 'timeout' | 'error';

export interface ScoreOutcome {
  items: ScoredItem[];
  fallback: FallbackReason | null;
  /** Why the model was not used, for the caller's log; absent when fallback is null. */
  error?: unknown;
}

/** What the Scorer needs of an onnxruntime InferenceSession (tests substitute their own). */
export interface ScoringSession {
  run(feeds: ort.InferenceSession.FeedsType): Promise<ort.InferenceSession.ReturnType>;
  release(): Promise<void>;
}

export class ScoringTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`model run took longer than ${timeoutMs} ms`);
    this.name = 'ScoringTimeoutError';
  }
}

interface PendingRow {
  history: EncodedHistory;
  k: number;
  resolve(items: ScoredItem[]): void;
  reject(error: unknown): void;
}

const DEFAULT_OPTIONS: Required<ScorerOptions> = { intraOpThreads: 1, maxBatch: 64, timeoutMs: 50 };

function resolveOptions(options: ScorerOptions): Required<ScorerOptions> {
  const resolved = { ...DEFAULT_OPTIONS, ...options };
  for (const name of ['intraOpThreads', 'maxBatch'] as const) {
    if (!Number.isInteger(resolved[name]) || resolved[name] < 1) {
      throw new Error(`Scorer: ${name} must be a positive integer, got ${resolved[name]}`);
    }
  }
  if (!(resolved.timeoutMs > 0)) throw new Error(`Scorer: timeoutMs must be > 0, got ${resolved.timeoutMs}`);
  return resolved;
}

function checkContract(session: ort.InferenceSession, dir: string): void {
  const expectedInputs = Object.values(MODEL_CONTRACT.inputs);
  const expectedOutputs = Object.values(MODEL_CONTRACT.outputs);
  const missing = [
    ...expectedInputs.filter((name) => !session.inputNames.includes(name)).map((name) => `input ${name}`),
    ...expectedOutputs.filter((name) => !session.outputNames.includes(name)).map((name) => `output ${name}`),
  ];
  if (missing.length > 0) throw new Error(`bundle ${dir}: model.onnx lacks contract ${missing.join(', ')}`);
}

/**
 * Serves a bundle's model. score() calls made in the same tick share one session.run: the
 * first queues a flush with setImmediate (after pending I/O callbacks, no timer delay), and a
 * queue reaching maxBatch is flushed at once. Each batch runs with the largest k asked in it;
 * every request then takes its own prefix of the sorted top list.
 */
export class Scorer {
  readonly manifest: ModelManifest;
  readonly version: string;
  readonly itemCount: number;
  /** L: slots per row; histories are padded or cut to this. */
  readonly historyLength: number;
  readonly itemIds: readonly string[];
  private readonly indexOf: ReadonlyMap<string, number>;
  /** The training data's items, most popular first, scored by their share of the top item's count. */
  private readonly popularity: readonly ScoredItem[];
  /** The training data's interactions per item (from the bundle's popularity list). */
  private readonly counts: ReadonlyMap<string, number>;
  private readonly options: Required<ScorerOptions>;
  private readonly counters: ScorerStats = { runs: 0, rows: 0, maxBatch: 0, failedInARow: 0 };
  private queue: PendingRow[] = [];
  private flushScheduled = false;
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  static async load(dir: string, options: ScorerOptions = {}): Promise<Scorer> {
    const resolved = resolveOptions(options);
    const bundle = await readBundle(dir);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bundle.onnxBytes, {
        intraOpNumThreads: resolved.intraOpThreads,
        // One node at a time: the graph is a chain, and run() already holds the main thread.
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`bundle ${dir}: model.onnx cannot be loaded by onnxruntime: ${why}`, { cause: error });
    }
    try {
      checkContract(session, dir);
    } catch (error) {
      await session.release();
      throw error;
    }
    return new Scorer(bundle, session, resolved);
  }

  constructor(
    bundle: Bundle,
    private readonly session: ScoringSession,
    options: ScorerOptions = {},
  ) {
    this.options = resolveOptions(options);
    this.manifest = bundle.manifest;
    this.version = bundle.manifest.version;
    this.itemCount = bundle.manifest.itemCount;
    this.historyLength = bundle.manifest.historyLength;
    this.itemIds = Object.freeze([...bundle.items]);
    this.indexOf = new Map(bundle.items.map((id, i) => [id, i] as const));
    this.popularity = popularityShares(bundle.popularity);
    this.counts = new Map(bundle.popularity.map(({ itemId, count }) => [itemId, count]));
  }

  get stats(): Readonly<ScorerStats> {
    return { ...this.counters };
  }

  hasItem(itemId: string): boolean {
    return this.indexOf.has(itemId);
  }

  /** How many interactions with the item the model was trained on: 0 for an item it never saw or does not know. */
  interactionCount(itemId: string): number {
    return this.counts.get(itemId) ?? 0;
  }

  /** The k most popular items of the training data; score is the item's share of the top item's interaction count (0..1). */
  popular(k: number): ScoredItem[] {
    return this.popularity.slice(0, this.clampK(k)).map((item) => ({ ...item }));
  }

  /** Top k items for the input, best first. Rejects on a failed run or ScoringTimeoutError. */
  async score(input: ModelInput, k: number): Promise<ScoredItem[]> {
    if (this.closed) throw new Error('Scorer is closed');
    const topK = this.clampK(k);
    const history = encodeHistory(input, this.indexOf, { historyLength: this.historyLength, padIndex: this.itemCount });
    if (topK === 0) return [];
    return new Promise((resolve, reject) => this.enqueue({ history, k: topK, resolve, reject }));
  }

  /** Like score(), but a failed or late run answers with popular(k) and says why. */
  async scoreOrFallback(input: ModelInput, k: number): Promise<ScoreOutcome> {
    try {
      return { items: await this.score(input, k), fallback: null };
    } catch (error) {
      const fallback: FallbackReason = error instanceof ScoringTimeoutError ? 'timeout' : 'error';
      return { items: this.popular(k), fallback, error };
    }
  }

  /** Fails queued requests, waits for running batches, then releases the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Requests accepted before close still get their answer: a hot swap closes the old model
    // while scoring passes that picked it may be queued.
    this.flush();
    await Promise.allSettled(this.inFlight);
    await this.session.release();
  }

  private clampK(k: number): number {
    if (Number.isNaN(k)) throw new RangeError('k must be a number, got NaN');
    return Math.max(0, Math.min(Math.floor(k), this.itemCount));
  }

  private enqueue(request: PendingRow): void {
    this.queue.push(request);
    if (this.queue.length >= this.options.maxBatch) {
      this.dispatch(this.queue.splice(0, this.options.maxBatch));
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    while (this.queue.length > 0) this.dispatch(this.queue.splice(0, this.options.maxBatch));
  }

  private dispatch(batch: PendingRow[]): void {
    const running = this.runBatch(batch);
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
  }

  /** Runs one batch and settles each of its requests; never rejects. */
  private async runBatch(batch: PendingRow[]): Promise<void> {
    const rows = batch.length;
    const slots = this.historyLength;
    const items = new BigInt64Array(rows * slots);
    const weights = new Float32Array(rows * slots);
    let k = 0;
    batch.forEach(({ history, k: wanted }, r) => {
      for (let s = 0; s < slots; s++) items[r * slots + s] = BigInt(history.indices[s]);
      weights.set(history.weights, r * slots);
      k = Math.max(k, wanted);
    });
    this.counters.runs++;
    this.counters.rows += rows;
    this.counters.maxBatch = Math.max(this.counters.maxBatch, rows);

    const { inputs, outputs } = MODEL_CONTRACT;
    const feeds: ort.InferenceSession.FeedsType = {
      [inputs.items]: new ort.Tensor('int64', items, [rows, slots]),
      [inputs.weights]: new ort.Tensor('float32', weights, [rows, slots]),
      [inputs.k]: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ScoringTimeoutError(this.options.timeoutMs)), this.options.timeoutMs);
    });
    try {
      const result = await Promise.race([this.session.run(feeds), deadline]);
      const scores = result[outputs.scores]?.data;
      const indices = result[outputs.indices]?.data;
      if (!(scores instanceof Float32Array) || !(indices instanceof BigInt64Array)) {
        throw new Error(`model run returned no float32 ${outputs.scores} / int64 ${outputs.indices}`);
      }
      if (scores.length !== rows * k || indices.length !== rows * k) {
        throw new Error(`model run returned ${scores.length} scores for ${rows} rows x k=${k}`);
      }
      const answers = batch.map(({ k: wanted }, r) => {
        const answer: ScoredItem[] = [];
        for (let t = r * k; t < r * k + wanted; t++) {
          const index = Number(indices[t]);
          const itemId = this.itemIds[index];
          if (itemId === undefined) throw new Error(`model run returned item index ${index} outside the vocabulary`);
          answer.push({ itemId, score: scores[t] });
        }
        return answer;
      });
      batch.forEach((request, r) => request.resolve(answers[r]));
      this.counters.failedInARow = 0;
    } catch (error) {
      this.counters.failedInARow++;
      for (const request of batch) request.reject(error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Popularity counts as scores on the lists' one scale: each count's share of the largest (0..1). */
function popularityShares(popularity: readonly PopularityEntry[]): ScoredItem[] {
  const top = popularity.reduce((max, { count }) => Math.max(max, count), 0);
  return popularity.map(({ itemId, count }) => ({ itemId, score: top > 0 ? count / top : 0 }));
}
