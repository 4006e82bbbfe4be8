import { Cluster, type Redis } from 'ioredis';
import type { RedisConnection } from './connection.js';
import type { Arg, LuaScript, ScriptCall } from './lua-script.js';

interface QueuedCall extends ScriptCall {
  resolve: (reply: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * Group commit for one script: the runs asked for in one tick go to Redis as one pipeline (one
 * write, one round trip) and each caller gets its own reply or error. No run waits for later
 * ones: the batch leaves once the microtasks queued with its first run have run, so a run alone
 * in its tick leaves at once, by itself, as an ordinary EVALSHA.
 *
 * A cluster client runs each on its own: a pipeline's keys must all be served by one node, and
 * runs of different shards may not be.
 */
export class ScriptBatch {
  private queued: QueuedCall[] = [];

  constructor(
    private readonly redis: RedisConnection,
    private readonly script: LuaScript,
    private readonly operation: string,
  ) {}

  run(keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    if (this.redis.client instanceof Cluster) return this.runAlone(keys, args);
    return new Promise((resolve, reject) => {
      this.queued.push({ keys, args, resolve, reject });
      if (this.queued.length === 1) queueMicrotask(() => this.flush());
    });
  }

  private runAlone(keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    return this.redis.call(this.operation, (client) => this.script.run(client, keys, args));
  }

  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 1) {
      const [only] = batch;
      this.runAlone(only.keys, only.args).then(only.resolve, only.reject);
      return;
    }
    this.redis.callEach(this.operation, (client) => this.script.runMany(client as Redis, batch)).then(
      (replies) => batch.forEach((call, i) => (replies[i] instanceof Error ? call.reject(replies[i]) : call.resolve(replies[i]))),
      (err: unknown) => {
        for (const call of batch) call.reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }
}
