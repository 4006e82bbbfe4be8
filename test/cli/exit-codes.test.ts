import t from 'tap';
import { ConfigError } from '../../src/config.js';
import { EXIT, exitCodeOf, runCommand } from '../../src/cli/exit-codes.js';
import { BundleError } from '../../src/model/bundle.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { capture } from '../helpers.js';

class BadData extends Error {}

t.test('one mapping: a ConfigError is a usage mistake (2), anything else a failure (1)', async (t) => {
  t.strictSame(EXIT, { ok: 0, failed: 1, usage: 2 });
  t.equal(exitCodeOf(new ConfigError('--port needs a value')), 2);
  t.equal(exitCodeOf(new BadData('line 2 has no items')), 1);
  t.equal(exitCodeOf('a string'), 1);
});

t.test('runCommand prints what a command throws the one way every command prints it', async (t) => {
  const usage = 'usage: attune demo --flag\n';
  t.strictSame(await capture(() => runCommand('demo', usage, [BadData], async () => EXIT.ok)), { code: 0, stdout: '', stderr: '' });
  t.strictSame(
    await capture(() =>
      runCommand('demo', usage, [BadData], async () => {
        throw new ConfigError('--flag needs a value');
      }),
    ),
    { code: 2, stdout: '', stderr: 'attune demo: --flag needs a value\n\nusage: attune demo --flag\n' },
    'a usage mistake: the message and the usage',
  );
  t.strictSame(
    await capture(() =>
      runCommand('demo', usage, [BadData], async () => {
        throw new BadData('data.txt:2: user 2 has no items');
      }),
    ),
    { code: 1, stdout: '', stderr: 'attune demo: data.txt:2: user 2 has no items\n' },
    'a failure the command names: its message alone',
  );
  await t.rejects(
    runCommand('demo', usage, [BadData], async () => {
      throw new TypeError('a bug');
    }),
    new TypeError('a bug'),
    'anything else propagates, for main to print with its stack',
  );
});

t.test('failures a person fixes outside the code: one line, what happened and what to change (exit 1)', async (t) => {
  const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 8080 });
  const cases: [Error, string][] = [
    [inUse, 'port 8080 on 127.0.0.1 is in use: stop what listens there, or choose another port with --port (0 picks a free one)'],
    [new BundleError('bundle /m: manifest.json is missing'), 'bundle /m: manifest.json is missing: --model takes a bundle directory written by attune train (without --model, the demo model is trained and served)'],
    [new StoreUnavailableError('could not connect to redis at redis://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1'), 'could not connect to redis at redis://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1: start Redis there, or correct --redis (or --redis-cluster)'],
  ];
  for (const [err, line] of cases) {
    const result = await capture(() =>
      runCommand('demo', 'usage: attune demo\n', [], async () => {
        throw err;
      }),
    );
    t.strictSame(result, { code: 1, stdout: '', stderr: `attune demo: ${line}\n` }, err.name);
  }
});
