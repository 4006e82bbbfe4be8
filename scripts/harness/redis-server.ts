import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SetupError } from './child.js';

/** A throwaway redis-server for a local cluster or a benchmark: loopback only, nothing persisted. */
export interface RedisChild {
  port: number;
  url: string;
  pid: number;
  process: ChildProcess;
  /** SIGTERM (SIGKILL after `graceMs`), then removes its directory. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `redis-server` on 127.0.0.1:`port` in a fresh temporary directory, without RDB or AOF.
 * Resolves once it accepts connections; fails with its output if it exits first (a busy port
 * reads "Address already in use") or is not ready within `timeoutMs`.
 */
export async function startRedisServer(options: { port: number; timeoutMs?: number; onLine?: (line: string) => void; detached?: boolean }): Promise<RedisChild> {
  const dir = mkdtempSync(join(tmpdir(), `attune-redis-${options.port}-`));
  const args = ['--port', String(options.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  let output = '';
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SetupError(`redis-server on port ${options.port} not ready within ${timeoutMs} ms:\n${output}`)), timeoutMs);
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString();
        output += text;
        for (const line of text.split('\n')) if (line.trim() !== '') options.onLine?.(line);
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new SetupError(err.code === 'ENOENT' ? 'redis-server is not installed (or not on PATH); install Redis 7, or pass --redis URL' : `redis-server failed to start: ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new SetupError(`redis-server on port ${options.port} exited (${signal ?? `code ${code}`}) before it was ready:\n${output.trim()}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  child.stdout?.removeAllListeners('data');
  child.stderr?.removeAllListeners('data');
  if (options.onLine) {
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') options.onLine?.(line);
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  if (child.pid === undefined) throw new SetupError('redis-server has no pid');
  const pid = child.pid;
  return {
    port: options.port,
    url: `redis://127.0.0.1:${options.port}`,
    pid,
    process: child,
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
