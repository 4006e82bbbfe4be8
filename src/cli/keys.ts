import { userInfo } from 'node:os';
import { HELP, parseCommandLine, shared, usage, type CommandFlags } from './args.js';
import { redisOptions, redisStoresOptions } from './cluster-flags.js';
import { ConfigError, bool, option, processEnvironment, text, type AttuneConfig, type Environment, type Option } from '../config.js';
import { EXIT, runCommand } from './exit-codes.js';
import { awsCredentialsOfKey } from '../security/aws-credentials.js';
import { createRedisStores, type RedisStoresOptions } from '../store/redis/index.js';
import type { AuditEntry, Role, Stores } from '../store/types.js';
import { generateApiKey, isApiKeyId, isRole, parseKeyName, parseRoles } from '../security/api-keys.js';

interface KeysFlags extends CommandFlags {
  server?: string;
  apiKey?: string;
  name?: string;
  roles?: string;
  json: boolean;
}

/** The target Redis: the key store written directly (--shards and --encryption-keys are accepted as other commands take them, unused). */
const KEYS_REDIS_OPTIONS = redisOptions('the cluster\'s Redis (rediss:// for TLS), written directly; recorded in the\naudit log as cli:<your OS user>');

const KEYS_OPTIONS: readonly Option<KeysFlags>[] = [
  ...KEYS_REDIS_OPTIONS,
  option<string, KeysFlags>('server', [], 'instead of --redis: a running node\'s HTTP API (/v1/admin/keys); the only\nway to reach an embedded (in-memory) server', text, (f, v) => (f.server = v), 'URL'),
  // Read as given: an empty key is refused with what --server needs.
  option<string, KeysFlags>('api-key', ['ATTUNE_API_KEY'], 'a key with the admin role for --server', (raw) => raw, (f, v) => (f.apiKey = v), 'KEY'),
  option<string, KeysFlags>('name', [], 'create: what or who uses the key (at most 128 characters)', text, (f, v) => (f.name = v), 'NAME'),
  option<string, KeysFlags>('roles', [], 'create: comma-separated, of ingest (send events, issue socket tokens),\nrecommend (read recommendations), privacy (users\' consent and erasure),\nadmin (everything, this included)', text, (f, v) => (f.roles = v), 'ROLES'),
  shared('sigv4-secret', 'S', 'create with --redis: the nodes\' SigV4 secret, to print the key\'s AWS\ncredentials as well (--server prints them when the node has one)'),
  option<boolean, KeysFlags>('json', [], 'print JSON instead of text', bool, (f, v) => (f.json = v)),
  HELP,
];

export const KEYS_USAGE = usage(
  `usage: attune keys create --name NAME --roles ROLES [--json] TARGET
       attune keys list [--json] TARGET
       attune keys revoke ID [--json] TARGET

Manages the API keys clients authenticate with (Authorization: Bearer <key>). A key is shown once,
by create: only its hash is stored, so store it where it is needed right away. revoke takes the id
(the part after atk_, as list shows it); running nodes stop accepting the key at once, or within
their --key-cache-ms if they cannot be told.

TARGET is the cluster's Redis (--redis and the options after it) or a running node (--server and
--api-key). Exit code 0 on success, 1 when the operation failed, 2 on usage errors.
`,
  KEYS_OPTIONS,
);

const SUBCOMMANDS = ['create', 'list', 'revoke'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];
/** A server that does not answer within this is reported as a failure rather than waited on. */
const SERVER_TIMEOUT_MS = 15_000;

/** A key as `list` shows it: never its hash. */
export interface KeySummary {
  id: string;
  name: string;
  roles: Role[];
  createdAt: number;
  revokedAt: number | null;
}

/** What `create` prints once: the same shape as the server's 201 answer. */
export interface CreatedKey {
  key: string;
  id: string;
  name: string;
  roles: Role[];
  createdAt: number;
  /** The same key's AWS credentials, for SDK clients of the Personalize-compatible API (SigV4). */
  awsAccessKeyId?: string;
  awsSecretAccessKey?: string;
}

type RevokeOutcome = { revoked: true; id: string; revokedAt: number } | { revoked: false; why: string };

/** What went wrong after the change was made: printed after the result, without undoing it. */
interface Aftermath {
  /** Makes the command exit 1 (e.g. the audit entry could not be recorded). */
  failures: string[];
  /** Printed only (e.g. running nodes could not be told of a revocation: they learn within their cache time). */
  warnings: string[];
}

/** The three operations, against Redis directly or through a running server. */
interface KeyAdmin {
  create(name: string, roles: Role[]): Promise<CreatedKey>;
  list(): Promise<KeySummary[]>;
  revoke(id: string): Promise<RevokeOutcome>;
  readonly aftermath: Aftermath;
  close(): Promise<void>;
}

/** The operation could not be done; exit code 1. */
class KeysFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeysFailure';
  }
}

type Request = { subcommand: 'create'; name: string; roles: Role[] } | { subcommand: 'list' } | { subcommand: 'revoke'; id: string };

type Target = { kind: 'redis'; options: RedisStoresOptions; sigv4Root: string | null } | { kind: 'server'; baseUrl: URL; apiKey: string };

export function runKeys(argv: readonly string[], env: Environment = processEnvironment()): Promise<number> {
  return runCommand('keys', KEYS_USAGE, [], () => keys(argv, env));
}

async function keys(argv: readonly string[], env: Environment): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help') {
    process.stdout.write(KEYS_USAGE);
    return EXIT.ok;
  }
  if (!isSubcommand(first)) throw new ConfigError(`unknown subcommand ${JSON.stringify(first)}: use create, list or revoke`);
  const flags: KeysFlags = { config: {}, help: false, json: false };
  const { config, positionals, given } = parseCommandLine('keys', KEYS_OPTIONS, flags, rest, env, true);
  if (flags.help) {
    process.stdout.write(KEYS_USAGE);
    return EXIT.ok;
  }
  const request = parseRequest(first, positionals, flags);
  const target = parseTarget(flags, config, given);

  let admin: KeyAdmin | null = null;
  let code: number;
  try {
    admin = target.kind === 'redis' ? new StoreKeyAdmin(await createRedisStores(target.options), cliActor(env), target.sigv4Root) : new ServerKeyAdmin(target.baseUrl, target.apiKey);
    await perform(admin, request, flags.json);
    code = EXIT.ok;
  } catch (err) {
    console.error(`attune keys: failed: ${messageOf(err)}`);
    code = EXIT.failed;
  }
  if (admin === null) return code;
  for (const warning of admin.aftermath.warnings) console.error(`attune keys: warning: ${warning}`);
  for (const failure of admin.aftermath.failures) console.error(`attune keys: failed: ${failure}`);
  try {
    await admin.close();
  } catch (err) {
    console.error(`attune keys: warning: closing the connection: ${messageOf(err)}`);
  }
  return admin.aftermath.failures.length > 0 ? EXIT.failed : code;
}

/** Prints the result on stdout; throws when the operation failed. */
async function perform(admin: KeyAdmin, request: Request, json: boolean): Promise<void> {
  switch (request.subcommand) {
    case 'create': {
      const created = await admin.create(request.name, request.roles);
      const aws = created.awsAccessKeyId === undefined ? '' : `\nAWS SDK credentials of this key (Personalize-compatible API): aws_access_key_id=${created.awsAccessKeyId} aws_secret_access_key=${created.awsSecretAccessKey ?? ''}`;
      console.log(json ? JSON.stringify(created) : `${created.key}\nStore this key now: it is not shown again (id ${created.id}, name ${JSON.stringify(created.name)}, roles ${created.roles.join(',')}).${aws}`);
      return;
    }
    case 'list': {
      const keys = await admin.list();
      console.log(json ? JSON.stringify({ keys }) : formatKeyTable(keys));
      return;
    }
    case 'revoke': {
      const outcome = await admin.revoke(request.id);
      if (!outcome.revoked) throw new KeysFailure(outcome.why);
      console.log(json ? JSON.stringify({ id: outcome.id, revokedAt: outcome.revokedAt }) : `key ${outcome.id} revoked at ${new Date(outcome.revokedAt).toISOString()}`);
      return;
    }
  }
}

/** Keys as a table for people, oldest first; revoked keys stay listed, marked with when. */
export function formatKeyTable(keys: readonly KeySummary[]): string {
  if (keys.length === 0) return 'no API keys';
  const rows = keys.map((key) => [key.id, key.name, key.roles.join(','), new Date(key.createdAt).toISOString(), key.revokedAt === null ? '-' : new Date(key.revokedAt).toISOString()]);
  const header = ['ID', 'NAME', 'ROLES', 'CREATED', 'REVOKED'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  return [header, ...rows].map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n');
}

function isSubcommand(text: string): text is Subcommand {
  return (SUBCOMMANDS as readonly string[]).includes(text);
}

function parseRequest(subcommand: Subcommand, positionals: readonly string[], flags: KeysFlags): Request {
  const { name, roles } = flags;
  if (subcommand !== 'create' && (name !== undefined || roles !== undefined)) throw new ConfigError(`--name and --roles are for create, not ${subcommand}`);
  if (subcommand === 'revoke') {
    if (positionals.length !== 1) throw new ConfigError(positionals.length === 0 ? 'revoke needs the ID of the key (see attune keys list)' : `revoke takes one ID, got ${positionals.length}`);
    const id = positionals[0];
    if (!isApiKeyId(id)) throw new ConfigError(`${JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}...` : id)} is not a key id: give the 12 hex characters after atk_ (the ID column of attune keys list), never the whole key`);
    return { subcommand, id };
  }
  if (positionals.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (subcommand === 'list') return { subcommand };
  if (name === undefined) throw new ConfigError('create needs --name NAME (what or who uses the key)');
  if (roles === undefined) throw new ConfigError('create needs --roles, e.g. --roles ingest,recommend');
  try {
    return { subcommand, name: parseKeyName(name), roles: parseRoles(roles) };
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
}

/** Redis or a running node, as the command line names it (the environment only completes it). */
function parseTarget(flags: KeysFlags, config: AttuneConfig, given: ReadonlySet<string>): Target {
  if (flags.server !== undefined) {
    if (KEYS_REDIS_OPTIONS.some((o) => given.has(o.flag))) throw new ConfigError('give either --server or the --redis options, not both');
    return { kind: 'server', baseUrl: serverBaseUrl(flags.server), apiKey: serverApiKey(flags.apiKey) };
  }
  if (given.has('api-key')) throw new ConfigError('--api-key goes with --server; with --redis the key store is written directly');
  return { kind: 'redis', options: redisStoresOptions(config, 'or --server URL --api-key KEY to go through a running node'), sigv4Root: config.security.sigv4Secret };
}

function serverBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--server must be a URL such as http://127.0.0.1:8080, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`--server must be an http:// or https:// URL, got ${url.protocol}`);
  if (url.search !== '' || url.hash !== '') throw new ConfigError('--server takes the base URL, without a query or fragment');
  // A trailing slash keeps a path prefix (a server behind a proxy at /attune/) when routes resolve against it.
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  return url;
}

function serverApiKey(key: string | undefined): string {
  if (key === undefined || key === '') throw new ConfigError('--server needs a key with the admin role: --api-key KEY or ATTUNE_API_KEY');
  return key;
}

/** The audit actor for changes made from this command: the OS account that ran it. */
export function cliActor(env: Environment): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // A container user without a passwd entry: fall back to what the shell says.
    user = env.USER ?? env.LOGNAME ?? env.USERNAME;
  }
  return `cli:${user === undefined || user === '' ? 'unknown' : user}`;
}

/** Straight to the cluster's key store and audit log, as the running nodes read them. */
class StoreKeyAdmin implements KeyAdmin {
  readonly aftermath: Aftermath = { failures: [], warnings: [] };

  constructor(
    private readonly stores: Stores,
    private readonly actor: string,
    /** Derives AWS credentials; null when the nodes' token secret was not given. */
    private readonly sigv4Root: string | null,
  ) {}

  async create(name: string, roles: Role[]): Promise<CreatedKey> {
    const { key, record } = generateApiKey(name, roles, Date.now());
    await this.stores.apiKeys.create(record);
    await this.audit({ action: 'key.create', target: record.id, outcome: 'ok', detail: { name: record.name, roles: record.roles.join(',') } }, 'the key was created');
    const aws = this.sigv4Root === null ? null : awsCredentialsOfKey(record, this.sigv4Root);
    return { key, id: record.id, name: record.name, roles: record.roles, createdAt: record.createdAt, ...(aws === null ? {} : { awsAccessKeyId: aws.accessKeyId, awsSecretAccessKey: aws.secretAccessKey }) };
  }

  async list(): Promise<KeySummary[]> {
    return (await this.stores.apiKeys.list()).map(({ id, name, roles, createdAt, revokedAt }) => ({ id, name, roles, createdAt, revokedAt }));
  }

  async revoke(id: string): Promise<RevokeOutcome> {
    const at = Date.now();
    if (!(await this.stores.apiKeys.revoke(id, at))) {
      // Unknown, or revoked already (possibly by someone else just now): the record says which.
      const revokedAt = (await this.stores.apiKeys.get(id))?.revokedAt ?? null;
      await this.audit({ action: 'key.revoke', target: id, outcome: 'failed', detail: { reason: revokedAt === null ? 'unknown' : 'already-revoked' } }, 'the revocation failed');
      return { revoked: false, why: revokedAt === null ? `no key ${id}` : `key ${id} was already revoked at ${new Date(revokedAt).toISOString()}` };
    }
    try {
      await this.stores.bus.publish({ type: 'key-revoked', keyId: id });
    } catch (err) {
      this.aftermath.warnings.push(`running nodes could not be told of the revocation (${messageOf(err)}): they stop accepting the key within their --key-cache-ms`);
    }
    await this.audit({ action: 'key.revoke', target: id, outcome: 'ok' }, 'the key was revoked');
    return { revoked: true, id, revokedAt: at };
  }

  close(): Promise<void> {
    return this.stores.close();
  }

  /** An audit write that fails after the change was made is reported, not thrown: the change stands. */
  private async audit(entry: Omit<AuditEntry, 'at' | 'actor'>, done: string): Promise<void> {
    try {
      await this.stores.audit.record({ at: Date.now(), actor: this.actor, ...entry });
    } catch (err) {
      this.aftermath.failures.push(`${done}, but its audit entry (${entry.action} ${entry.target}) could not be recorded: ${messageOf(err)}`);
    }
  }
}

/** Through a running node's admin API, which authenticates, audits and tells the other nodes. */
class ServerKeyAdmin implements KeyAdmin {
  readonly aftermath: Aftermath = { failures: [], warnings: [] };

  constructor(
    private readonly baseUrl: URL,
    private readonly apiKey: string,
  ) {}

  async create(name: string, roles: Role[]): Promise<CreatedKey> {
    const { status, body } = await this.call('POST', 'v1/admin/keys', { name, roles });
    if (status !== 201) throw this.refusal(status, body);
    const created = asCreatedKey(body);
    if (created === null) throw new KeysFailure(`the server created a key but its answer is not the expected {key, id, name, roles, createdAt}: ${preview(body)}`);
    return created;
  }

  async list(): Promise<KeySummary[]> {
    const { status, body } = await this.call('GET', 'v1/admin/keys');
    if (status !== 200) throw this.refusal(status, body);
    const keys = isObject(body) && Array.isArray(body.keys) ? body.keys.map(asKeySummary) : null;
    if (keys === null || keys.some((key) => key === null)) throw new KeysFailure(`unexpected answer from the server, not {keys: [...]}: ${preview(body)}`);
    return keys.filter((key): key is KeySummary => key !== null);
  }

  async revoke(id: string): Promise<RevokeOutcome> {
    const { status, body } = await this.call('DELETE', `v1/admin/keys/${encodeURIComponent(id)}`);
    if (status === 404) return { revoked: false, why: `no active key ${id} (unknown, or already revoked)` };
    if (status !== 200) throw this.refusal(status, body);
    const revokedAt = isObject(body) ? body.revokedAt : undefined;
    if (typeof revokedAt !== 'number') throw new KeysFailure(`unexpected answer from the server, not {id, revokedAt}: ${preview(body)}`);
    return { revoked: true, id, revokedAt };
  }

  async close(): Promise<void> {}

  private async call(method: string, path: string, payload?: unknown): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, this.baseUrl);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.apiKey}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
        signal: AbortSignal.timeout(SERVER_TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (err) {
      throw new KeysFailure(`cannot reach ${url.origin}: ${messageOf(err)}`, { cause: err });
    }
    const text = await response.text();
    try {
      return { status: response.status, body: text === '' ? null : JSON.parse(text) };
    } catch {
      throw new KeysFailure(`${method} ${url.pathname} answered ${response.status} with a body that is not JSON: ${preview(text)}`);
    }
  }

  /** The server's own code and message (e.g. ATTUNE_ERR_FORBIDDEN: this route needs the admin role). */
  private refusal(status: number, body: unknown): KeysFailure {
    const code = isObject(body) && typeof body.code === 'string' ? ` ${body.code}` : '';
    const message = isObject(body) && typeof body.message === 'string' ? body.message : preview(body);
    return new KeysFailure(`the server refused (${status}${code}): ${message}`);
  }
}

function asCreatedKey(body: unknown): CreatedKey | null {
  if (!isObject(body) || typeof body.key !== 'string') return null;
  const summary = asKeySummary({ ...body, revokedAt: null });
  if (summary === null) return null;
  const aws = typeof body.awsAccessKeyId === 'string' && typeof body.awsSecretAccessKey === 'string' ? { awsAccessKeyId: body.awsAccessKeyId, awsSecretAccessKey: body.awsSecretAccessKey } : {};
  return { key: body.key, id: summary.id, name: summary.name, roles: summary.roles, createdAt: summary.createdAt, ...aws };
}

function asKeySummary(value: unknown): KeySummary | null {
  if (!isObject(value)) return null;
  const { id, name, roles, createdAt, revokedAt } = value;
  if (typeof id !== 'string' || typeof name !== 'string' || typeof createdAt !== 'number') return null;
  if (revokedAt !== null && typeof revokedAt !== 'number') return null;
  if (!Array.isArray(roles) || !roles.every((role): role is Role => typeof role === 'string' && isRole(role))) return null;
  return { id, name, roles, createdAt, revokedAt };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch's "fetch failed" says nothing; its cause (ECONNREFUSED, a TLS error) does. Other errors often quote theirs already.
  const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
