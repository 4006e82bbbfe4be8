import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import {
  ImportError,
  detectFormat,
  importData,
  type ImportCounters,
  type ImportFormat,
  type ImportKind,
  type ImportOptions,
  type ImportProgress,
  type ImportReport,
} from './import.js';

/** What POST /v1/import-jobs asks for: paths under the node's import directory; at least one of the three. */
export interface ImportJobRequest {
  interactions?: string;
  items?: string;
  users?: string;
  format?: ImportFormat;
}

export type ImportJobStatus = 'running' | 'succeeded' | 'failed';

export interface ImportJobView {
  jobId: string;
  status: ImportJobStatus;
  /** The files as resolved on the node. */
  request: ImportJobRequest;
  /** Epoch ms. */
  startedAt: number;
  finishedAt?: number;
  /** One entry per file started so far, in import order (items, users, interactions). */
  progress: ImportProgress[];
  /** When the job is over; for a failed job, what was done before it failed. */
  report?: ImportReport;
  /** Why the job failed. */
  error?: string;
}

/** The request cannot start a job (no file, a missing or unreadable file, an unknown format). */
export class ImportRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportRequestError';
  }
}

export interface ImportJobsOptions extends Pick<ImportOptions, 'stores' | 'categoryOf' | 'onInteraction' | 'onItems' | 'appendKey' | 'maxErrors' | 'progressEvery' | 'chunkRows' | 'concurrency' | 'userIdAtRest' | 'optedOut'> {
  counters?: ImportCounters;
  /** Jobs kept for GET, newest first (default 100); running jobs are never dropped. */
  keep?: number;
  /** Every path must lie under this directory, also once symlinks are resolved; relative paths are resolved in it. */
  root: string;
  now?: () => number;
  /** A job failed (for the node's log). */
  onError?: (err: unknown, context: string) => void;
}

const KINDS: readonly ImportKind[] = ['items', 'users', 'interactions'];

interface Job {
  view: ImportJobView;
  controller: AbortController;
  done: Promise<void>;
}

/** The node's import jobs: each runs in the background on the node's stores; the latest `keep` are kept. */
export class ImportJobs {
  private readonly jobs = new Map<string, Job>();
  private closed = false;

  constructor(private readonly options: ImportJobsOptions) {}

  /** Checks the request, starts its job and returns it (running); ImportRequestError when it cannot start. */
  async start(request: ImportJobRequest): Promise<ImportJobView> {
    if (this.closed) throw new ImportRequestError('the node is stopping');
    const given = KINDS.filter((kind) => request[kind] !== undefined);
    if (given.length === 0) throw new ImportRequestError('give at least one of interactions, items, users (paths on the server)');
    const resolved: ImportJobRequest = request.format === undefined ? {} : { format: request.format };
    for (const kind of given) resolved[kind] = await this.checkFile(kind, request[kind] ?? '', request.format);

    const now = this.options.now ?? Date.now;
    const controller = new AbortController();
    const view: ImportJobView = { jobId: randomUUID(), status: 'running', request: resolved, startedAt: now(), progress: [] };
    const options: ImportOptions = {
      stores: this.options.stores,
      ...resolved,
      signal: controller.signal,
      onProgress: (progress) => {
        const at = view.progress.findIndex((p) => p.kind === progress.kind);
        if (at >= 0) view.progress[at] = progress;
        else view.progress.push(progress);
      },
      ...pick(this.options, ['categoryOf', 'onInteraction', 'onItems', 'appendKey', 'maxErrors', 'progressEvery', 'chunkRows', 'concurrency', 'counters', 'userIdAtRest', 'optedOut']),
    };
    const done = importData(options).then(
      (report) => {
        view.status = 'succeeded';
        view.report = report;
        view.finishedAt = now();
        this.options.counters?.job('succeeded');
      },
      (err: unknown) => {
        view.status = 'failed';
        view.error = err instanceof Error ? err.message : String(err);
        if (err instanceof ImportError) view.report = err.report;
        view.finishedAt = now();
        this.options.counters?.job('failed');
        this.options.onError?.(err, `import job ${view.jobId}`);
      },
    );
    this.jobs.set(view.jobId, { view, controller, done });
    this.evict();
    return copy(view);
  }

  /** A copy of the job as it is now; null for an unknown (or dropped) id. */
  get(jobId: string): ImportJobView | null {
    const job = this.jobs.get(jobId);
    return job === undefined ? null : copy(job.view);
  }

  /** The kept jobs, newest first. */
  list(): ImportJobView[] {
    return [...this.jobs.values()].reverse().map((job) => copy(job.view));
  }

  /** Resolves with the job once it is over (null for an unknown id). */
  async finished(jobId: string): Promise<ImportJobView | null> {
    const job = this.jobs.get(jobId);
    if (job === undefined) return null;
    await job.done;
    return copy(job.view);
  }

  /** Aborts the running jobs (they fail with "import aborted") and waits for them; no job starts after. */
  async close(): Promise<void> {
    this.closed = true;
    const running = [...this.jobs.values()].filter((job) => job.view.status === 'running');
    for (const job of running) job.controller.abort();
    await Promise.all(running.map((job) => job.done));
  }

  private evict(): void {
    const keep = this.options.keep ?? 100;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= keep) return;
      if (job.view.status !== 'running') this.jobs.delete(id);
    }
  }

  /**
   * The file's real path, when it is a readable file under the root. A path outside the root is
   * refused before anything is read, so a request cannot learn which files exist elsewhere; a
   * symlink inside that leads out is refused once resolved.
   */
  private async checkFile(kind: ImportKind, path: string, format: ImportFormat | undefined): Promise<string> {
    const root = resolve(this.options.root);
    const full = resolve(root, path);
    const outside = new ImportRequestError(`${kind}: ${path} is not under the import directory`);
    if (!isInside(root, full)) throw outside;
    let real: string;
    let isFile: boolean;
    try {
      const [realRoot, realFile] = await Promise.all([realpath(root), realpath(full)]);
      if (!isInside(realRoot, realFile)) throw outside;
      real = realFile;
      isFile = (await stat(real)).isFile();
    } catch (err) {
      if (err === outside) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new ImportRequestError(code === 'ENOENT' ? `${kind}: ${path} does not exist` : `${kind}: cannot read ${path} (${code ?? String(err)})`);
    }
    if (!isFile) throw new ImportRequestError(`${kind}: ${path} is not a file`);
    try {
      await access(real, constants.R_OK);
    } catch {
      throw new ImportRequestError(`${kind}: cannot read ${path}`);
    }
    if (format === undefined && detectFormat(real) === null) {
      throw new ImportRequestError(`${kind}: cannot tell the format of ${path} from its extension (.csv, .jsonl or .ndjson): give "format"`);
    }
    return real;
  }
}

/** Whether `path` lies strictly below `dir` (both absolute and resolved). */
function isInside(dir: string, path: string): boolean {
  const inside = relative(dir, path);
  return inside !== '' && inside !== '..' && !inside.startsWith(`..${sep}`) && !isAbsolute(inside);
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

function copy(view: ImportJobView): ImportJobView {
  return structuredClone(view);
}
