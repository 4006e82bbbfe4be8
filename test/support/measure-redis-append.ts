/**
 * What an append through RedisEventLog costs next to the floor a raw round trip sets, against a
 * redis-server of its own. Not a test: run it and read the JSON.
 *
 *   TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import test/support/measure-redis-append.ts [--n 20000] [--seconds 5]
 */
import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { NewLogEntry } from '../../src/session/events.js';
import { createRedisStores } from '../../src/store/redis/index.js';
import { startRedis } from '../../scripts/harness/redis-server.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const samples = arg('n', 20_000);
const seconds = arg('seconds', 5);
const keys = Array.from({ length: 100 }, (_, i) => `s:session-${i}`);
const entry: NewLogEntry = {
  kind: 'interaction',
  sessionId: 'session-0',
  eventType: 'view',
  itemId: 'item-12345',
  eventValue: 1,
  sentAt: 1_760_000_000_000,
  receivedAt: 1_760_000_000_003,
  itemCategory: 'shoes',
};

const server = await startRedis();
const stores = await createRedisStores({ url: server.url, shardCount: 256 });
const raw = new Redis(server.port, '127.0.0.1');
try {
  const packed = new Packr({ useRecords: false, mapsAsObjects: true }).pack(entry);
  const ops = {
    ping: () => raw.ping(),
    rawXadd: (i: number) => raw.xadd(`raw:${keys[i % keys.length]}`, '*', 'e', packed),
    append: (i: number) => stores.log.append(keys[i % keys.length], entry),
  };
  type Op = keyof typeof ops;
  const latencies: Record<Op, number[]> = { ping: [], rawXadd: [], append: [] };

  // Warm up, then interleave blocks so drift (GC, CPU frequency) hits every series alike.
  for (let i = 0; i < 2000; i++) for (const op of Object.keys(ops) as Op[]) await ops[op](i);
  const block = 500;
  for (let done = 0; done < samples; done += block) {
    for (const op of Object.keys(ops) as Op[]) {
      for (let i = done; i < done + block; i++) {
        const started = process.hrtime.bigint();
        await ops[op](i);
        latencies[op].push(Number(process.hrtime.bigint() - started) / 1000);
      }
    }
  }
  const summary = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    return { p50: at(0.5), p99: at(0.99), max: Math.round(sorted[sorted.length - 1]) };
  };
  const sequential = Object.fromEntries((Object.keys(ops) as Op[]).map((op) => [op, summary(latencies[op])])) as Record<Op, ReturnType<typeof summary>>;

  // Throughput: 100 keys, each appending in a closed loop, so up to 100 appends are in flight
  // on the one connection (ioredis writes them back to back: a pipeline in effect).
  const throughput = async (run: (key: number, i: number) => Promise<unknown>) => {
    const deadline = Date.now() + seconds * 1000;
    const cpuBefore = process.cpuUsage();
    const startedAt = process.hrtime.bigint();
    let count = 0;
    await Promise.all(
      keys.map(async (_, key) => {
        for (let i = 0; Date.now() < deadline; i++) {
          await run(key, i);
          count++;
        }
      }),
    );
    const elapsedS = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    return { perSecond: Math.round(count / elapsedS), clientCpuUsPerOp: Math.round(((cpu.user + cpu.system) / count) * 10) / 10 };
  };
  const memoryBefore = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
  const concurrentAppend = await throughput((key, i) => ops.append(key + i * keys.length));
  const memoryAfter = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
  const appended = (await Promise.all(keys.map((key) => stores.log.read(key, null).then((entries) => entries.length)))).reduce((a, b) => a + b, 0);
  const concurrentRawXadd = await throughput((key, i) => ops.rawXadd(key + i * keys.length));
  const concurrentPing = await throughput(() => ops.ping());

  console.log(
    JSON.stringify(
      {
        redis: (/redis_version:(\S+)/.exec(await raw.info('server')) ?? [])[1],
        node: process.version,
        samples,
        sequentialMicros: sequential,
        appendOverPingP50: Math.round((sequential.append.p50 / sequential.ping.p50) * 100) / 100,
        appendOverPingP99: Math.round((sequential.append.p99 / sequential.ping.p99) * 100) / 100,
        concurrent100Keys: { seconds, append: concurrentAppend, rawXadd: concurrentRawXadd, ping: concurrentPing },
        redisBytesPerLoggedEvent: Math.round((memoryAfter - memoryBefore) / appended),
      },
      null,
      2,
    ),
  );
} finally {
  raw.disconnect();
  await stores.close();
  await server.stop();
}
