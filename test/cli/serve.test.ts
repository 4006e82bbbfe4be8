import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/start.js';
import { demoModelDir } from '../helpers.js';

t.test('attune serve --dev (npm start) listens on loopback only, unless --host says otherwise', async (t) => {
  const model = await demoModelDir();
  for (const [argv, address] of [
    [['--dev'], '127.0.0.1'],
    [['--dev', '--host', '0.0.0.0'], '0.0.0.0'],
  ] as const) {
    const server = await startServer(loadConfig([...argv, '--port', '0', '--model', model, '--log-level', 'silent'], {}));
    try {
      t.equal((server.app.server.address() as AddressInfo).address, address, argv.join(' '));
    } finally {
      await server.close();
    }
  }
});

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `attune serve ARGS` as a person runs it (its own process, the TypeScript sources through tap's loader) until it exits. */
function serve(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', '@tapjs/typescript/import', join('src', 'cli', 'main.ts'), 'serve', '--log-level', 'silent', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A port something else listens on, and a way to let it go. */
async function occupiedPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return { port: (holder.address() as AddressInfo).port, release: () => new Promise((resolve) => holder.close(() => resolve())) };
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const { port, release } = await occupiedPort();
  await release();
  return port;
}

t.test('a node that cannot start says why in one line, with the fix, and no stack trace', async (t) => {
  const model = await demoModelDir();
  const busy = await occupiedPort();
  t.teardown(busy.release);
  const redisPort = await closedPort();
  const cases: [string, string[], number, RegExp][] = [
    ['port in use', ['--host', '127.0.0.1', '--port', String(busy.port), '--model', model], 1, new RegExp(`^attune serve: port ${busy.port} on 127\\.0\\.0\\.1 is in use.*--port`)],
    ['a missing bundle', ['--port', '0', '--model', '/nonexistent'], 1, /^attune serve: bundle \/nonexistent: manifest\.json is missing.*--model.*attune train/],
    ['Redis unreachable', ['--port', '0', '--model', model, '--dev', '--redis', `redis://127.0.0.1:${redisPort}`], 1, new RegExp(`^attune serve: could not connect to redis at redis://127\\.0\\.0\\.1:${redisPort}.*--redis`)],
  ];
  await Promise.all(
    cases.map(async ([what, args, code, message]) => {
      const result = await serve(args);
      t.equal(result.code, code, `${what}: exit code ${code}`);
      t.match(result.stderr, message, `${what}: names the fix`);
      t.equal(result.stderr.trimEnd().split('\n').length, 1, `${what}: one line`);
      t.notMatch(result.stderr, /^ {4}at /m, `${what}: no stack trace`);
    }),
  );
});

t.test('bad flags to attune serve: the mistake in one line, then the usage (exit 2)', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown flag', ['--colour'], /^attune serve: unknown option --colour \(see attune help\)$/],
    ['--tls-cert alone', ['--tls-cert', join(ROOT, 'package.json')], /^attune serve: --tls-cert and --tls-key go together$/],
    ['an unreadable --tls-key', ['--tls-cert', join(ROOT, 'package.json'), '--tls-key', '/nonexistent.pem'], /^attune serve: --tls-key: cannot read \/nonexistent\.pem/],
  ];
  await Promise.all(
    cases.map(async ([what, args, message]) => {
      const result = await serve(['--port', '0', ...args]);
      const [first, blank, usage] = result.stderr.split('\n');
      t.equal(result.code, 2, `${what}: exit code 2`);
      t.match(first, message, `${what}: the mistake`);
      t.strictSame([blank, usage], ['', 'usage: attune <command> [options]'], `${what}: then the usage`);
      t.notMatch(result.stderr, /^ {4}at /m, `${what}: no stack trace`);
    }),
  );
});
