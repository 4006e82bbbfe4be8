import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SetupError } from './setup-error.js';

/**
 * A server as a child process (an Attune node, a redis-server, the benchmark's echo baseline),
 * for the tests and the benchmarks alike: spawned so that it never outlives its parent, its
 * output kept line by line, waited on until it answers, and stopped, crashed or paused on purpose.
 */

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** The program; this node binary unless given. */
  command?: string;
  args: readonly string[];
  cwd?: string;
  /** Its environment; this process's own unless given. */
  env?: NodeJS.ProcessEnv;
  /** Own process group: a terminal's Ctrl-C then reaches only the parent, which stops the children in order. */
  detached?: boolean;
  /** A directory the watchdog removes with the child when the parent died without cleaning up. */
  ownedDir?: string;
}

export interface OutputOptions {
  /** Every output line, e.g. to print it prefixed. */
  onLine?: (line: string) => void;
  /** The whole output also goes to this file; a function of the pid gives each start its own file. */
  logFile?: string | ((pid: number) => string);
}

/** Lines kept for audits (the first ones); the last RECENT_LINES are kept apart for tail(). */
const MAX_LINES = 20_000;
const RECENT_LINES = 100;

const running = new Set<ChildProcess>();
// A caller that throws past its teardown still exits: kill what it started on the way out.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Spawns a child with its output piped, killed when this process exits and, should this process
 * be killed outright (no exit handler runs, e.g. tap's timeout), by a small detached watchdog.
 */
export function spawnTracked(options: SpawnOptions): ChildProcess {
  const child = spawn(options.command ?? process.execPath, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  if (child.pid === undefined) return child; // it failed to start: its 'error' event says why
  running.add(child);
  const watchdog = watch(child.pid, options.ownedDir);
  child.once('exit', () => {
    running.delete(child);
    watchdog.kill('SIGKILL');
  });
  return child;
}

function watch(pid: number, ownedDir: string | undefined): ChildProcess {
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null; [ -n "$3" ] && rm -rf "$3"';
  const watchdog = spawn('sh', ['-c', script, 'watchdog', String(process.pid), String(pid), ownedDir ?? ''], { stdio: 'ignore', detached: true });
  watchdog.unref();
  return watchdog;
}

/** A running child: its output lines, its exit, and the signals a caller sends it on purpose. */
export class ServerProcess {
  /** Its first output lines (up to 20,000), for audits. */
  readonly lines: string[] = [];
  /** Epoch ms at which the caller sent SIGKILL / SIGSTOP / SIGCONT (the last of each). */
  killedAt: number | null = null;
  pausedAt: number | null = null;
  resumedAt: number | null = null;
  readonly exited: Promise<ExitInfo>;
  /** Why it could not be started at all (e.g. ENOENT: the program is not installed). */
  startError: NodeJS.ErrnoException | null = null;
  private readonly recent: string[] = [];
  private exitInfo: ExitInfo | null = null;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly output: OutputOptions = {},
  ) {
    this.exited = new Promise((resolve) => {
      const end = (info: ExitInfo): void => {
        if (this.exitInfo !== null) return;
        this.exitInfo = info;
        this.notify();
        resolve(info);
      };
      child.once('exit', (code, signal) => end({ code, signal }));
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (child.pid !== undefined) return; // a failed kill, not a failed start
        this.startError = err;
        end({ code: null, signal: null });
      });
    });
    let log: WriteStream | null = null;
    if (output.logFile !== undefined && child.pid !== undefined) {
      log = createWriteStream(typeof output.logFile === 'string' ? output.logFile : output.logFile(child.pid));
      const opened = log;
      child.once('close', () => opened.end());
    }
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => {
        log?.write(`${line}\n`);
        this.handleLine(line);
        this.notify();
      });
    }
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new SetupError(`${this.name} has no pid`);
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /** How it ended, in words (for messages). */
  describeExit(): string {
    const info = this.exitInfo;
    if (info === null) return 'still running';
    if (this.startError !== null) return `failed to start: ${this.startError.message}`;
    return info.signal !== null ? `exited on ${info.signal}` : `exited with code ${info.code}`;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** kill -9: no handoff, nothing flushed. Returns the kill time (epoch ms). */
  crash(): number {
    this.killedAt = Date.now();
    this.child.kill('SIGKILL');
    return this.killedAt;
  }

  pause(): number {
    this.pausedAt = Date.now();
    this.child.kill('SIGSTOP');
    return this.pausedAt;
  }

  resume(): number {
    this.resumedAt = Date.now();
    this.child.kill('SIGCONT');
    return this.resumedAt;
  }

  /** Graceful stop (SIGTERM: a node hands its shards off and flushes snapshots), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<ExitInfo> {
    if (this.exitInfo !== null) return this.exitInfo;
    this.child.kill('SIGCONT'); // a stopped process cannot act on SIGTERM
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  /** Resolves once `check` holds (re-checked on every output line, on exit, and every 50 ms). */
  async waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 50);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.watchers.add(done);
      });
    }
  }

  /** Error and warning lines (pino level >= 40), for diagnostics. */
  problems(): string[] {
    return this.lines.filter((line) => {
      const parsed = parseJsonLine(line);
      return parsed !== null && typeof parsed.level === 'number' && parsed.level >= 40;
    });
  }

  /** Its last output lines, each prefixed with its name. */
  tail(count = 30): string {
    return this.recent
      .slice(-count)
      .map((line) => `  [${this.name}] ${line}`)
      .join('\n');
  }

  /** Called for every output line; a subclass reads more out of it, then calls this. */
  protected handleLine(line: string): void {
    if (this.lines.length < MAX_LINES) this.lines.push(line);
    this.recent.push(line);
    if (this.recent.length > RECENT_LINES) this.recent.shift();
    this.output.onLine?.(line);
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
    this.watchers.clear();
  }
}

/** An output line as a JSON object (a pino log line), or null. */
export function parseJsonLine(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Resolves once GET `url` + `path` answers 200. Kills the process and fails with its output when
 * it exits first, or when `timeoutMs` passes.
 */
export async function waitUntilAnswering(server: ServerProcess, url: string, path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await answers(`${url}${path}`))) {
    if (!server.alive) throw new SetupError(`${server.name} ${server.describeExit()} before ${path} answered; its output:\n${server.tail() || '(none)'}`);
    if (Date.now() > deadline) {
      server.kill('SIGKILL');
      throw new SetupError(`${server.name} did not answer ${url}${path} within ${timeoutMs} ms; its output:\n${server.tail() || '(none)'}`);
    }
    await sleep(50);
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}
