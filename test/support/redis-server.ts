import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Throwaway redis-server processes for tests: each on its own free port, nothing persisted, in
 * its own temporary directory. Never the shared Redis on 6379.
 */
export interface RedisServer {
  readonly port: number;
  /** redis:// (rediss:// with `tls`), carrying the password when there is one. */
  readonly url: string;
  /** With `tls`: the PEM of the server's self-signed certificate, which is its own CA. */
  readonly tlsCa?: string;
  /** Stops the server (SIGTERM, then SIGKILL if it lingers) and waits for it to exit. */
  stop(): Promise<void>;
  /** Sends a signal, e.g. SIGKILL to crash it or SIGSTOP/SIGCONT to pause and resume it. */
  kill(signal: NodeJS.Signals): void;
  /** Stops it if running and starts a fresh, empty one on the same port with the same options (also after stop()). */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  port?: number;
  /** Started with --requirepass; the URL then carries it. */
  password?: string;
  /** Serves TLS only, with a fresh self-signed certificate for 127.0.0.1. */
  tls?: boolean;
  /** More redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
}

const execFileAsync = promisify(execFile);
const running = new Set<ChildProcess>();

// A test that throws past its teardown still exits: stop what it started on the way out.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(options.port ?? (await freePort()), options);
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
  let child: ChildProcess;
  const listen = options.tls ? ['--port', '0', '--tls-port', String(port), ...tlsArgs(dir)] : ['--port', String(port)];
  const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.password === undefined ? [] : ['--requirepass', options.password]), ...(options.args ?? [])];
  try {
    if (options.tls) certificate = await selfSignedCertificate(dir);
    child = await spawnRedis(args, port, dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const tlsCa = certificate?.cert;
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  const url = `${tlsCa === undefined ? 'redis' : 'rediss'}://${auth}127.0.0.1:${port}`;

  const stopChild = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT'); // a paused server cannot act on SIGTERM
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  return {
    port,
    url,
    ...(tlsCa === undefined ? {} : { tlsCa }),
    async stop() {
      await stopChild();
      rmSync(dir, { recursive: true, force: true });
    },
    kill(signal) {
      child.kill(signal);
    },
    async restart() {
      await stopChild();
      // The directory is gone if stop() ran; a cluster node's nodes.conf survives a plain restart.
      mkdirSync(dir, { recursive: true });
      if (certificate) writeCertificate(dir, certificate);
      child = await spawnRedis(args, port, dir);
    },
  };
}

/** Resolves once the server accepts connections; rejects with its output if it exits first. */
async function spawnRedis(args: string[], port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const watchdog = watch(child, dir);
  child.once('exit', () => {
    running.delete(child);
    watchdog.kill('SIGKILL');
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`redis-server on port ${port} exited (${code ?? signal}) before it was ready:\n${output}`)));
  });
  return child;
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

/**
 * A test process killed outright (tap's timeout ends in SIGKILL) runs no exit handler; a small
 * shell outside it kills the server and removes its directory once the test process is gone.
 */
function watch(child: ChildProcess, dir: string): ChildProcess {
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null; rm -rf "$3"';
  const watchdog = spawn('sh', ['-c', script, 'watchdog', String(process.pid), String(child.pid), dir], { stdio: 'ignore', detached: true });
  watchdog.unref();
  return watchdog;
}

/**
 * A port that is free now, and whose cluster bus port (+10000) is free too; ports are drawn at
 * random from a range where both fit, so parallel test files rarely collide.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if ((await canBind(port)) && (await canBind(port + 10000))) return port;
  }
  throw new Error('no free port pair found');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface RedisCluster {
  readonly nodes: RedisServer[];
  /** `host:port` of every master, to seed a cluster client. */
  readonly seeds: string[];
  stop(): Promise<void>;
}

/**
 * Masters with cluster-enabled, joined by `redis-cli --cluster create` (slots split evenly, no
 * replicas), resolved once every node reports cluster_state:ok. Stops whatever it started if
 * any step fails.
 */
export async function startCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] }));
    }
    const seeds = nodes.map((node) => `127.0.0.1:${node.port}`);
    await execFileAsync('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const node of nodes) await waitForClusterOk(node.port);
    return { nodes, seeds, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Whether this redis-server build accepts cluster mode; tests skip cluster cases when not. */
export async function clusterSupported(): Promise<boolean> {
  try {
    const node = await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] });
    await node.stop();
    return true;
  } catch {
    return false;
  }
}

async function waitForClusterOk(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { stdout } = await execFileAsync('redis-cli', ['-p', String(port), 'cluster', 'info']);
    if (stdout.includes('cluster_state:ok')) return;
    if (Date.now() > deadline) throw new Error(`cluster node ${port} not ok:\n${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
