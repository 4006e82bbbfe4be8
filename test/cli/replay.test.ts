import t from 'tap';
import { runReplay } from '../../src/cli/replay.js';
import { capture, connectClient, demoModelDir, startLocalServer, testSecurity } from '../helpers.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

t.test('attune replay reads a user\'s events and pushes from Redis and reproduces the pushes', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const modelDir = await demoModelDir();
  const server = await startLocalServer({ modelDir, redis: { url: redis.url }, cluster: { nodeId: 'solo', shardCount: 8, leaseTtlMs: 500 }, security: testSecurity });
  t.teardown(() => server.close());
  await new Promise((r) => setTimeout(r, 1500)); // the fresh Redis quarantines shards for one lease TTL
  const client = await connectClient(server.url, { sessionId: 'tab', userId: 'replay-me' });
  t.teardown(() => client.close());
  await client.push();
  for (const itemId of ['shoes-001', 'shoes-002', 'bags-003']) {
    const ack = await client.emit<{ ok: boolean; eventId: string }>('event', { eventType: 'view', itemId });
    await client.push((p) => p.cause?.eventId === ack.eventId);
  }
  await new Promise((r) => setTimeout(r, 100));
  // --dev: the node ran in development mode, so the command maps user ids with its pseudonym key.
  const base = ['--user', 'replay-me', '--dev', '--redis', redis.url, '--shards', '8', '--model', modelDir];
  const replayed = `u:${server.pseudonyms.user('replay-me')}`;

  const text = await capture(() => runReplay(base));
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, new RegExp(`^replay of ${replayed} with model \\S+: 3 log entries`));
  t.match(text.stdout, /view shoes-001 @ /);
  t.match(text.stdout, /pushes recorded: 3; caused by a replayed event: 3; reproduced exactly: 3/);
  t.equal((await capture(() => runReplay(base))).stdout, text.stdout, 'two replays print the same');

  const json = await capture(() => runReplay([...base, '--json']));
  const timeline = JSON.parse(json.stdout) as { steps: Array<{ itemId: string }>; pushes: { reproduced: number } };
  t.strictSame(timeline.steps.map((s) => s.itemId), ['shoes-001', 'shoes-002', 'bags-003']);
  t.equal(timeline.pushes.reproduced, 3);

  const unknown = await capture(() => runReplay(['--user', 'nobody', '--dev', '--redis', redis.url, '--shards', '8']));
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, `u:${server.pseudonyms.user('nobody')} has no events in the log`);
  const noKey = await capture(() => runReplay(['--user', 'replay-me', '--redis', redis.url, '--shards', '8']));
  t.match(noKey, { code: 2, stderr: /user ids are stored as pseudonyms: give the nodes' --pseudonym-key/ });
  const both = await capture(() => runReplay(['--user', 'a', '--session', 'b', '--redis', redis.url]));
  t.match(both, { code: 2, stderr: /give exactly one of --session ID or --user ID/ });
  const noRedis = await capture(() => runReplay(['--user', 'a', '--dev']));
  t.match(noRedis, { code: 2, stderr: /GET \/v1\/admin\/replay/ });
  const badModel = await capture(() => runReplay([...base.slice(0, 7), '--model', 'no-such-version', '--data-dir', '/nonexistent']));
  t.match(badModel, { code: 2, stderr: /--model no-such-version: not a bundle directory/ });
});
