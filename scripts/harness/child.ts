import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** A server under test, in its own process so it gets its own core and its own event loop. */
export interface ServerChild {
  name: string;
  pid: number;
  url: string;
  process: ChildProcess;
  /** The last lines the child wrote, for error messages. */
  outputTail(): string;
}

export class SetupError extends Error {
  override name = 'SetupError';
}

const LOOPBACK = '127.0.0.1';
const OUTPUT_TAIL_CHARS = 4000;

/** A port the OS says is free right now on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, LOOPBACK, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new SetupError('could not find a free port'))));
    });
  });
}

/** Fails unless `port` can be bound on loopback now, so /healthz can't be answered by a stranger. */
export async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new SetupError(`port ${port} on ${LOOPBACK} is not free (${err.code ?? err.message})`)));
    probe.listen(port, LOOPBACK, () => probe.close(() => resolve()));
  });
}

/**
 * Starts `node <args>` and waits until GET /healthz answers 200. Fails fast with the child's
 * output when it exits first, and after `timeoutMs` otherwise.
 */
export async function startServerChild(options: {
  name: string;
  nodeArgs: readonly string[];
  args: readonly string[];
  port: number;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Where the child's stdout and stderr go, whole (--trace-gc output, warnings). */
  logFile: string;
}): Promise<ServerChild> {
  const child = spawn(process.execPath, [...options.nodeArgs, ...options.args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const log = createWriteStream(options.logFile);
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    log.write(chunk);
  };
  child.once('exit', () => log.end());
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? `code ${code}`}`));
  child.once('error', (err) => (exited = `failed to start: ${err.message}`));

  const url = `http://${LOOPBACK}:${options.port}`;
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== null) {
      throw new SetupError(`${options.name} server ${exited} before /healthz answered; its output:\n${tail.trim() || '(none)'}`);
    }
    if (await healthy(url)) {
      if (child.pid === undefined) throw new SetupError(`${options.name} server has no pid`);
      return { name: options.name, pid: child.pid, url, process: child, outputTail: () => tail };
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new SetupError(`${options.name} server did not answer ${url}/healthz within ${options.timeoutMs} ms; its output:\n${tail.trim() || '(none)'}`);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves once it is gone. */
export async function stopServerChild(child: ServerChild, graceMs = 5000): Promise<void> {
  const proc = child.process;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** The repository root, found upwards from this module (scripts/bench-lib/ or dist/scripts/bench-lib/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'attune.js'))) return dir;
    dir = dirname(dir);
  }
  throw new SetupError('cannot find the repository root (package.json next to bin/attune.js) above this script');
}
