import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../types.js';

export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Redis Cluster seed nodes, `host:port` (`[v6addr]:port` for IPv6); excludes `url`. */
  cluster?: string[];
  /** Overrides the URL's password; with `cluster`, the password of every node. */
  password?: string;
  /** Forces TLS (as `rediss://` does), or turns it off for a rediss:// URL when false. */
  tls?: boolean;
  /** When TLS is on: PEM of the CA that signed the servers' certificates, if a private one (the system CAs otherwise). */
  tlsCa?: string;
  /** Every Redis command settles within this many ms: answered, or rejected with StoreUnavailableError. Default 2000. */
  commandTimeoutMs?: number;
  /** How long to wait for the first connection before giving up. Default 5000. */
  connectTimeoutMs?: number;
  /** Told of every failed store operation (for a metric): its name and whether Redis was unavailable or refused the command. */
  onFailure?: (operation: string, kind: 'unavailable' | 'reply') => void;
}

export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls: boolean;
}

/** Parses a redis:// or rediss:// URL; `password` and `tls` options override what the URL says. */
export function parseRedisUrl(url: string, overrides: { password?: string; tls?: boolean } = {}): RedisEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`not a redis URL: ${redactUrl(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new RangeError(`redis URL must start with redis:// or rediss://, got ${redactUrl(url)}`);
  }
  const endpoint: RedisEndpoint = {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    tls: overrides.tls ?? parsed.protocol === 'rediss:',
  };
  if (parsed.username !== '') endpoint.username = decodeURIComponent(parsed.username);
  const password = overrides.password ?? (parsed.password === '' ? undefined : decodeURIComponent(parsed.password));
  if (password !== undefined) endpoint.password = password;
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '') {
    if (!/^\d+$/.test(db)) throw new RangeError(`redis URL database must be a number, got "${db}"`);
    endpoint.db = Number(db);
  }
  return endpoint;
}

export function parseSeed(seed: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(seed);
  if (!match) throw new RangeError(`cluster seed must be host:port, got "${seed}"`);
  return { host: match[1] ?? match[2], port: Number(match[3]) };
}

/** For messages: a URL without its password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}

const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * A call unanswered this long marks Redis unavailable for readiness, well before the command
 * timeout fails the call: a paused or partitioned server shows in /readyz within a second.
 */
const STALL_MS = 500;
/** With no call answered for this long and none pending, the connection pings, so an idle node notices a silent server too. */
const IDLE_PING_MS = 250;

/** Reply errors that say the server cannot serve now, as opposed to a bad command. */
const UNAVAILABLE_REPLIES = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|NOAUTH|WRONGPASS)\b/;

/**
 * One client (a Redis or a Cluster) and the policy that keeps failures bounded and legible:
 * every Redis command settles within the command timeout (an operation is one command, except
 * keys(), one per shard in parallel, and catalog upserts, which retry on conflict), and every
 * failure to get an answer becomes a StoreUnavailableError naming the operation and the
 * connection's last error.
 */
export class RedisConnection {
  private lastError: Error | null = null;
  /** Why the latest call that failed for want of Redis failed, until a call succeeds or the client reconnects. */
  private failedCall: string | null = null;
  /** Start times of the calls waiting for an answer, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<number, number>();
  private callCount = 0;
  private lastAnswerAt = Date.now();
  private readonly idlePing: NodeJS.Timeout;

  private constructor(
    readonly client: RedisClient,
    readonly description: string,
    private readonly commandTimeoutMs: number,
    /**
     * Only a cluster client can hold a command beyond its commandTimeout (in its queue while
     * it has no ready node), so only there does each call race a timer of its own: the timer
     * costs a few microseconds per call.
     */
    private readonly deadlinePerCall: boolean,
    private readonly onFailure: (operation: string, kind: 'unavailable' | 'reply') => void = () => {},
  ) {
    // Without a listener ioredis prints every reconnect failure; keep the latest for messages.
    client.on('error', (err: Error) => {
      this.lastError = err;
    });
    client.on('ready', () => {
      this.lastError = null;
      this.failedCall = null;
    });
    this.idlePing = setInterval(() => this.pingWhenIdle(), IDLE_PING_MS);
    this.idlePing.unref();
  }

  static async open(options: RedisConnectionOptions): Promise<RedisConnection> {
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const { client, description } = createClient(options, commandTimeoutMs, connectTimeoutMs);
    const connection = new RedisConnection(client, description, commandTimeoutMs, client instanceof Cluster, options.onFailure);
    try {
      await withDeadline(client.connect(), connectTimeoutMs, () => new Error(`no connection within ${connectTimeoutMs} ms`));
      // ioredis 6 reports ready before authentication is proven; one round trip proves it.
      await withDeadline(client.ping(), connectTimeoutMs, () => new Error(`no answer within ${connectTimeoutMs} ms`));
    } catch (err) {
      clearInterval(connection.idlePing);
      client.disconnect();
      const cause = connection.lastError ?? err;
      throw new StoreUnavailableError(`could not connect to redis at ${description}: ${messageOf(cause)}`, { cause });
    }
    return connection;
  }

  /**
   * Runs one store operation's Redis calls. Reply errors that mean "bad command" pass through
   * unchanged: they are bugs, and retrying would not help.
   */
  async call<T>(operation: string, run: (client: RedisClient) => Promise<T>): Promise<T> {
    const id = this.callCount++;
    this.pending.set(id, Date.now());
    try {
      const result = run(this.client);
      const answer = await (this.deadlinePerCall ? withDeadline(result, this.commandTimeoutMs, () => new Error(`no answer within ${this.commandTimeoutMs} ms`)) : result);
      this.failedCall = null;
      this.lastAnswerAt = Date.now();
      return answer;
    } catch (err) {
      throw this.failure(operation, err);
    } finally {
      this.pending.delete(id);
    }
  }

  /**
   * As call(), for a batch whose items fail one by one (a pipeline): each item's error goes
   * through the same policy as a failed call, so an item refused for want of Redis is a
   * StoreUnavailableError like any other.
   */
  async callEach<T>(operation: string, run: (client: RedisClient) => Promise<Array<T | Error>>): Promise<Array<T | Error>> {
    const replies = await this.call(operation, run);
    return replies.map((reply) => (reply instanceof Error ? this.failure(operation, reply) : reply));
  }

  /** Records a failed operation and says what to throw: a refused command as it is, anything else as StoreUnavailableError. */
  private failure(operation: string, err: unknown): Error {
    const refused = err instanceof Error && err.name === 'ReplyError' && !UNAVAILABLE_REPLIES.test(err.message);
    this.onFailure(operation, refused ? 'reply' : 'unavailable');
    if (refused) return err;
    this.failedCall = `${operation} failed: ${this.reason(err)}`;
    return new StoreUnavailableError(`redis at ${this.description} unavailable: ${this.failedCall}`, { cause: err });
  }

  /**
   * Null while Redis answers as far as this connection knows; otherwise why not: the client is
   * not connected (the socket closed, it is reconnecting), or the latest call that failed for
   * want of Redis (a timeout: the server went silent) has had no successful call after it, or a
   * call has waited longer than STALL_MS for its answer (the server is going silent now).
   */
  unavailableReason(): string | null {
    if (this.client.status !== 'ready') return `redis at ${this.description} unavailable: not connected (${this.lastError ? messageOf(this.lastError) : this.client.status})`;
    if (this.failedCall !== null) return `redis at ${this.description} unavailable: ${this.failedCall}`;
    const oldest = this.pending.values().next();
    const waited = oldest.done === true ? 0 : Date.now() - oldest.value;
    return waited > STALL_MS ? `redis at ${this.description} unavailable: a call has had no answer for ${waited} ms` : null;
  }

  private pingWhenIdle(): void {
    if (this.pending.size > 0 || Date.now() - this.lastAnswerAt < IDLE_PING_MS || this.client.status !== 'ready') return;
    // Its failure is recorded by call() and read by unavailableReason(); nothing waits on it.
    this.call('ping', (client) => client.ping()).catch(() => {});
  }

  /** ioredis's own message for a disconnected client ("Stream isn't writeable...") says less than the connection's last error. */
  private reason(err: unknown): string {
    // ioredis may still say 'ready' for a moment after the socket closed; its offline-queue refusal says it is not.
    const disconnected = this.client.status !== 'ready' || (err instanceof Error && err.message.startsWith("Stream isn't writeable"));
    if (!disconnected) return messageOf(err);
    const state = this.client.status === 'ready' ? 'connection closed' : this.client.status;
    return `not connected (${this.lastError ? messageOf(this.lastError) : state})`;
  }

  async close(): Promise<void> {
    clearInterval(this.idlePing);
    try {
      await withDeadline(this.client.quit(), this.commandTimeoutMs, () => new Error('quit timed out'));
    } catch {
      // Not connected or not answering: nothing left to flush.
    } finally {
      this.client.disconnect();
    }
  }
}

/*
 * Failure policy, chosen so that an event is either acknowledged or refused promptly, and a
 * refused one turns up in the log later only when Redis may already have had it:
 * - Standalone: `enableOfflineQueue: false`, so a command issued while disconnected fails at
 *   once instead of waiting in memory and being sent after a reconnect (an append the caller
 *   was told had failed would then appear anyway). `maxRetriesPerRequest` only governs that
 *   queue, so it is 0. `autoResendUnfulfilledCommands: false`: commands in flight when the
 *   connection drops are rejected, not silently resent. `retryStrategy` reconnects forever with
 *   a capped backoff, so the stores recover by themselves when Redis is back.
 * - Cluster: ioredis connects to nodes lazily and needs its queues to route the first commands,
 *   so the offline queue stays on; a deadline around each call bounds the wait instead.
 * - `commandTimeout` bounds a command sent to a server that accepted it and went silent
 *   (paused, partitioned). Such a command may still run when the server wakes up, and a
 *   queued cluster command may run after its deadline: a timed-out append is "maybe in the
 *   log", as StoreUnavailableError says.
 */
function createClient(options: RedisConnectionOptions, commandTimeoutMs: number, connectTimeoutMs: number): { client: RedisClient; description: string } {
  const reconnect = (attempt: number): number => Math.min(50 * attempt, 1000);
  if (options.cluster !== undefined) {
    if (options.url !== undefined) throw new RangeError('give either a redis url or cluster seeds, not both');
    if (options.cluster.length === 0) throw new RangeError('cluster needs at least one seed host:port');
    const seeds = options.cluster.map(parseSeed);
    const redisOptions: ClusterOptions['redisOptions'] = {
      commandTimeout: commandTimeoutMs,
      connectTimeout: connectTimeoutMs,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.tls ? { tls: tlsOptions(options) } : {}),
    };
    const client = new Cluster(seeds, { lazyConnect: true, redisOptions, clusterRetryStrategy: reconnect, slotsRefreshTimeout: commandTimeoutMs });
    return { client, description: `cluster ${options.cluster.join(',')}` };
  }
  const url = options.url ?? 'redis://127.0.0.1:6379';
  const endpoint = parseRedisUrl(url, { ...(options.password === undefined ? {} : { password: options.password }), ...(options.tls === undefined ? {} : { tls: options.tls }) });
  const redisOptions: RedisOptions = {
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    ...(endpoint.db === undefined ? {} : { db: endpoint.db }),
    ...(endpoint.tls ? { tls: tlsOptions(options) } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    retryStrategy: reconnect,
  };
  return { client: new Redis(redisOptions), description: redactUrl(url) };
}

function tlsOptions(options: RedisConnectionOptions): ConnectionOptions {
  return options.tlsCa === undefined ? {} : { ca: options.tlsCa };
}

function withDeadline<T>(promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), ms);
  });
  // The losing promise may still reject later; that is expected, not unhandled.
  promise.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
