import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { RedisConnection } from '../../src/store/redis/connection.js';
import { LuaScript } from '../../src/store/redis/lua-script.js';
import { ScriptBatch } from '../../src/store/redis/script-batch.js';
import { StoreUnavailableError } from '../../src/store/types.js';

/** Adds ARGV[1] to the counter KEYS[1] and returns the new value (a ReplyError when the key holds text). */
const ADD = new LuaScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`);

const server = await startRedis();
t.teardown(() => server.stop());

/** A connection whose pipelines are counted: each is one write and one round trip. */
async function countedConnection(t: Test): Promise<{ connection: RedisConnection; pipelines: () => number }> {
  const connection = await RedisConnection.open({ url: server.url });
  t.teardown(() => connection.close());
  const client = connection.client as Redis;
  const pipeline = client.pipeline.bind(client);
  let count = 0;
  client.pipeline = ((...args: Parameters<Redis['pipeline']>) => {
    count++;
    return pipeline(...args);
  }) as Redis['pipeline'];
  return { connection, pipelines: () => count };
}

t.test('runs asked for in one tick go in one pipeline, each caller gets its own reply', async (t) => {
  const { connection, pipelines } = await countedConnection(t);
  const batch = new ScriptBatch(connection, ADD, 'add');
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => batch.run([`batch:${i % 4}`], [i])));
  t.strictSame(replies.slice(0, 4), [0, 1, 2, 3], 'the first run of each counter');
  t.strictSame(replies.slice(16), [0 + 4 + 8 + 12 + 16, 1 + 5 + 9 + 13 + 17, 2 + 6 + 10 + 14 + 18, 3 + 7 + 11 + 15 + 19], 'in the order asked');
  t.equal(pipelines(), 1, 'one round trip');
  t.equal(await batch.run(['batch:0'], [1]), 41, 'a run alone in its tick');
  t.equal(pipelines(), 1, 'goes by itself, not as a pipeline');
  const later = await Promise.all([batch.run(['batch:1'], [1]), batch.run(['batch:2'], [1])]);
  t.strictSame(later, [46, 51]);
  t.equal(pipelines(), 2, 'the next tick\'s runs: the next pipeline');
});

t.test('a run Redis refuses fails alone; the others of its batch stand', async (t) => {
  const { connection } = await countedConnection(t);
  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());
  await raw.set('refuse:text', 'not a number');
  const batch = new ScriptBatch(connection, ADD, 'add');
  const outcomes = await Promise.allSettled([batch.run(['refuse:a'], [1]), batch.run(['refuse:text'], [1]), batch.run(['refuse:b'], [2])]);
  t.strictSame(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
  t.strictSame(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : null)), [1, null, 2]);
  const refused = outcomes[1];
  t.match(refused.status === 'rejected' ? refused.reason : null, { name: 'ReplyError', message: /not an integer/ }, 'a refused command passes through as it is');
  t.strictSame(await raw.mget('refuse:a', 'refuse:b'), ['1', '2']);
});

t.test('after SCRIPT FLUSH (a restart, a failover) the batch loads the script again', async (t) => {
  const { connection } = await countedConnection(t);
  const raw = new Redis(server.port, '127.0.0.1');
  t.teardown(() => raw.disconnect());
  const batch = new ScriptBatch(connection, ADD, 'add');
  await batch.run(['flush:a'], [1]);
  await raw.script('FLUSH');
  t.strictSame(await Promise.all([batch.run(['flush:a'], [1]), batch.run(['flush:b'], [5])]), [2, 5]);
});

t.test('with Redis gone, every run of the batch is refused as unavailable', async (t) => {
  const other = await startRedis();
  const connection = await RedisConnection.open({ url: other.url, commandTimeoutMs: 500 });
  t.teardown(() => connection.close());
  const batch = new ScriptBatch(connection, ADD, 'add');
  t.strictSame(await Promise.all([batch.run(['gone:a'], [1]), batch.run(['gone:b'], [1])]), [1, 1]);
  await other.stop();
  const outcomes = await Promise.allSettled([batch.run(['gone:a'], [1]), batch.run(['gone:b'], [1])]);
  for (const outcome of outcomes) t.ok(outcome.status === 'rejected' && outcome.reason instanceof StoreUnavailableError, 'StoreUnavailableError');
});
