import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeRedisPort } from './ports.js';
import { ServerProcess, spawnTracked } from './server-process.js';
import { SetupError } from './setup-error.js';

/**
 * A throwaway redis-server for a test, a local cluster or a benchmark: loopback only, nothing
 * persisted, in its own temporary directory. Never a shared Redis.
 */
export interface RedisServer {
  readonly port: number;
  /** redis:// (rediss:// with `tls`), carrying the password when there is one. */
  readonly url: string;
  /** With `tls`: the PEM of the server's self-signed certificate, which is its own CA. */
  readonly tlsCa?: string;
  /** The redis-server process running now (a new one after restart()). */
  readonly process: ServerProcess;
  /** Stops the server (SIGTERM, SIGKILL after `graceMs`), waits for it to exit, and removes its directory. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal, e.g. SIGKILL to crash it or SIGSTOP/SIGCONT to pause and resume it. */
  kill(signal: NodeJS.Signals): void;
  /** Stops it if running and starts a fresh, empty one on the same port with the same options (also after stop()). */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  /** Without one, a free port (with its cluster bus port free too), drawn again if taken before redis-server binds it. */
  port?: number;
  /** Started with --requirepass; the URL then carries it. */
  password?: string;
  /** Serves TLS only, with a fresh self-signed certificate for 127.0.0.1. */
  tls?: boolean;
  /** More redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
  /** Every output line, e.g. to print it prefixed. */
  onLine?: (line: string) => void;
  /** Own process group: a terminal's Ctrl-C then reaches only the parent, which stops it after the nodes. */
  detached?: boolean;
  /** Default 30 s. */
  readyTimeoutMs?: number;
}

const execFileAsync = promisify(execFile);

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(options.port ?? (await freeRedisPort()), options);
    } catch (err) {
      // Another process may take a free port before redis-server binds it: draw another.
      const raced = err instanceof Error && err.message.includes('Address already in use');
      if (!raced || options.port !== undefined || attempt === 3) throw err;
    }
  }
}

async function startOn(port: number, options: RedisServerOptions): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), `attune-redis-${port}-`));
  let certificate: Certificate | undefined;
  const listen = options.tls ? ['--port', '0', '--tls-port', String(port), ...tlsArgs(dir)] : ['--port', String(port)];
  const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.password === undefined ? [] : ['--requirepass', options.password]), ...(options.args ?? [])];
  const start = (): Promise<ServerProcess> => spawnRedis(args, port, dir, options);
  let server: ServerProcess;
  try {
    if (options.tls) certificate = await selfSignedCertificate(dir);
    server = await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const tlsCa = certificate?.cert;
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    url: `${tlsCa === undefined ? 'redis' : 'rediss'}://${auth}127.0.0.1:${port}`,
    ...(tlsCa === undefined ? {} : { tlsCa }),
    get process() {
      return server;
    },
    async stop(graceMs = 5000) {
      await server.stop(graceMs);
      rmSync(dir, { recursive: true, force: true });
    },
    kill(signal) {
      server.kill(signal);
    },
    async restart() {
      await server.stop(5000);
      // The directory is gone if stop() ran; a cluster node's nodes.conf survives a plain restart.
      mkdirSync(dir, { recursive: true });
      if (certificate) writeCertificate(dir, certificate);
      server = await start();
    },
  };
}

/** Resolves once the server accepts connections; fails with its output if it exits first or is not ready in time. */
async function spawnRedis(args: string[], port: number, dir: string, options: RedisServerOptions): Promise<ServerProcess> {
  let ready = false;
  const onLine = (line: string): void => {
    if (line.includes('Ready to accept connections')) ready = true;
    if (line.trim() !== '') options.onLine?.(line);
  };
  const child = spawnTracked({ command: 'redis-server', args, detached: options.detached, ownedDir: dir });
  const server = new ServerProcess(`redis-${port}`, child, { onLine });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  try {
    await server.waitFor('Ready to accept connections', () => ready || !server.alive, timeoutMs);
  } catch {
    server.kill('SIGKILL');
    throw new SetupError(`redis-server on port ${port} not ready within ${timeoutMs} ms:\n${server.tail()}`);
  }
  if (server.startError?.code === 'ENOENT') throw new SetupError('redis-server is not installed (or not on PATH); install Redis 7, or pass --redis URL');
  if (!ready) throw new SetupError(`redis-server on port ${port} ${server.describeExit()} before it was ready:\n${server.tail()}`);
  return server;
}

interface Certificate {
  cert: string;
  key: string;
}

async function selfSignedCertificate(dir: string): Promise<Certificate> {
  await execFileAsync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')]);
  return { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
}

function writeCertificate(dir: string, certificate: Certificate): void {
  writeFileSync(join(dir, 'tls.crt'), certificate.cert);
  writeFileSync(join(dir, 'tls.key'), certificate.key, { mode: 0o600 });
}

function tlsArgs(dir: string): string[] {
  const cert = join(dir, 'tls.crt');
  return ['--tls-cert-file', cert, '--tls-key-file', join(dir, 'tls.key'), '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'];
}
