import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisClient } from './connection.js';

export type Arg = string | Buffer | number;

/** One run of a script: its keys (one slot) and arguments. */
export interface ScriptCall {
  keys: readonly string[];
  args: readonly Arg[];
}

/**
 * A Lua script run by hash. Scripts are how a check and the write it guards stay one atomic
 * step. EVALSHA sends only the hash; after a restart or a failover to a node that has not seen
 * the script, Redis answers NOSCRIPT and the source is sent once with EVAL (which caches it).
 */
export class LuaScript {
  private readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** All `keys` must share a hash slot in a cluster: pass keys of one shard only. */
  run(client: RedisClient, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    return this.evaluate(
      () => client.evalsha(this.sha, keys.length, ...keys, ...args),
      () => client.eval(this.source, keys.length, ...keys, ...args),
    );
  }

  /** As run(), with the reply's strings left as Buffers: run() decodes them as UTF-8, which would mangle binary values. */
  runBuffer(client: RedisClient, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    return this.evaluate(
      () => bufferScripting(client).evalshaBuffer(this.sha, keys.length, ...keys, ...args),
      () => bufferScripting(client).evalBuffer(this.source, keys.length, ...keys, ...args),
    );
  }

  /**
   * Runs the script once per call in one pipeline (one round trip), standalone Redis only: a
   * cluster client refuses pipelines whose keys live on different nodes. Each reply is the
   * script's result or the Error it raised; calls Redis answered NOSCRIPT are run again by
   * source, one by one.
   */
  async runMany(client: Redis, calls: ReadonlyArray<ScriptCall>): Promise<Array<unknown>> {
    const pipeline = client.pipeline();
    for (const { keys, args } of calls) pipeline.evalsha(this.sha, keys.length, ...keys, ...args);
    const replies = (await pipeline.exec()) ?? [];
    return Promise.all(
      calls.map(async ({ keys, args }, i) => {
        const [err, value] = replies[i] ?? [new Error('no reply in the pipeline'), null];
        if (err === null) return value;
        if (!err.message.startsWith('NOSCRIPT')) return err;
        return client.eval(this.source, keys.length, ...keys, ...args).catch((failed: unknown) => (failed instanceof Error ? failed : new Error(String(failed))));
      }),
    );
  }

  private async evaluate(bySha: () => Promise<unknown>, bySource: () => Promise<unknown>): Promise<unknown> {
    try {
      return await bySha();
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return bySource();
    }
  }
}

/** The Buffer-reply variants of EVALSHA and EVAL. */
interface BufferScripting {
  evalshaBuffer(...args: Arg[]): Promise<unknown>;
  evalBuffer(...args: Arg[]): Promise<unknown>;
}

/**
 * ioredis defines a Buffer variant of every command at runtime, but its types leave these out.
 * Not callBuffer('EVALSHA', ...): with auto-pipelining ioredis 6 sends that as a command named
 * by its first argument (the hash).
 */
function bufferScripting(client: RedisClient): BufferScripting {
  return client as unknown as BufferScripting;
}

/** A duration as a script's PX/PEXPIRE argument: whole ms, at least 1 (Redis refuses 0). */
export function wholeMsArg(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}
