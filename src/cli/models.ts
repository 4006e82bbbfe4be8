import { HELP, parseCommandLine, usage, type CommandFlags } from './args.js';
import { redisOptions, redisStoresOptions } from './cluster-flags.js';
import { cliActor } from './keys.js';
import { ConfigError, bool, option, processEnvironment, text, type Environment, type Option } from '../config.js';
import { AttuneError } from '../errors.js';
import { EXIT, runCommand } from './exit-codes.js';
import { ModelAdmin, type CatalogFit } from '../ops/model-admin.js';
import { createRedisStores } from '../store/redis/index.js';
import type { AuditEntry, LiveChange, ModelEntry, Stores } from '../store/types.js';

interface ModelsFlags extends CommandFlags {
  version?: string;
  force: boolean;
  json: boolean;
}

const MODELS_OPTIONS: readonly Option<ModelsFlags>[] = [
  ...redisOptions('the cluster\'s Redis (rediss:// for TLS), where the registry lives; changes are\nrecorded in the audit log as cli:<your OS user> and announced to every node'),
  option<string, ModelsFlags>('version', [], 'register: the version the bundle\'s manifest must name (a check)', text, (f, v) => (f.version = v), 'VERSION'),
  option<boolean, ModelsFlags>('force', [], 'promote: even a bundle that knows none of the catalog\'s items', bool, (f, v) => (f.force = v)),
  option<boolean, ModelsFlags>('json', [], 'print JSON instead of text', bool, (f, v) => (f.json = v)),
  HELP,
];

export const MODELS_USAGE = usage(
  `usage: attune models list [--json] --redis URL
       attune models register DIR [--version VERSION] [--json] --redis URL
       attune models promote VERSION [--force] [--json] --redis URL
       attune models rollback [--json] --redis URL
       attune models retire VERSION [--json] --redis URL

The cluster's model registry: every node serves its live version and swaps within seconds of a
change. register adds the bundle in DIR as a candidate (its version, lineage and offline metrics
come from its manifest; DIR must be where every node reads the bundle). promote makes a version
live (the one live before is retired and remembered); rollback makes the version that was live
before the live one live again; retire puts a candidate aside. A node that cannot load the live
version keeps serving its model and says so in /readyz and attune_model_load_failures_total.
Exit code 0 on success, 1 when the registry refused or failed, 2 on usage errors.
`,
  MODELS_OPTIONS,
);

const SUBCOMMANDS = ['list', 'register', 'promote', 'rollback', 'retire'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

type Request = { subcommand: 'list' } | { subcommand: 'register'; dir: string; version?: string } | { subcommand: 'promote'; version: string; force: boolean } | { subcommand: 'rollback' } | { subcommand: 'retire'; version: string };

export function runModels(argv: readonly string[], env: Environment = processEnvironment()): Promise<number> {
  return runCommand('models', MODELS_USAGE, [AttuneError], () => models(argv, env));
}

async function models(argv: readonly string[], env: Environment): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help') {
    process.stdout.write(MODELS_USAGE);
    return EXIT.ok;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(first)) throw new ConfigError(`unknown subcommand ${JSON.stringify(first)}: use ${SUBCOMMANDS.join(', ')}`);
  const flags: ModelsFlags = { config: {}, help: false, force: false, json: false };
  const { config, positionals } = parseCommandLine('models', MODELS_OPTIONS, flags, rest, env, true);
  if (flags.help) {
    process.stdout.write(MODELS_USAGE);
    return EXIT.ok;
  }
  const request = parseRequest(first as Subcommand, positionals, flags);
  const stores = await createRedisStores(redisStoresOptions(config, 'an embedded server\'s registry is reached through its HTTP API: /v1/admin/models'));
  const warnings: string[] = [];
  try {
    const admin = new ModelAdmin({ models: stores.models, bus: stores.bus, now: Date.now, onAnnounceFailed: (err) => warnings.push(`running nodes could not be told at once (${messageOf(err)}): they follow within their --model-poll-ms`) });
    await perform(admin, stores, cliActor(env), request, flags.json);
  } finally {
    for (const warning of warnings) process.stderr.write(`attune models: warning: ${warning}\n`);
    await stores.close();
  }
  return EXIT.ok;
}

function parseRequest(subcommand: Subcommand, positionals: readonly string[], flags: ModelsFlags): Request {
  if (flags.version !== undefined && subcommand !== 'register') throw new ConfigError(`--version is for register, not ${subcommand}`);
  if (flags.force && subcommand !== 'promote') throw new ConfigError(`--force is for promote, not ${subcommand}`);
  const argument = (what: string): string => {
    if (positionals.length !== 1) throw new ConfigError(positionals.length === 0 ? `${subcommand} needs ${what}` : `${subcommand} takes one argument, ${what}, got ${positionals.length} arguments`);
    return positionals[0];
  };
  switch (subcommand) {
    case 'list':
    case 'rollback':
      if (positionals.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      return { subcommand };
    case 'register':
      return { subcommand, dir: argument('the bundle directory DIR'), ...(flags.version === undefined ? {} : { version: flags.version }) };
    case 'promote':
      return { subcommand, version: argument('the VERSION (see attune models list)'), force: flags.force };
    case 'retire':
      return { subcommand, version: argument('the VERSION (see attune models list)') };
  }
}

/** Runs the request, audits a change either way, prints the result on stdout. */
async function perform(admin: ModelAdmin, stores: Stores, actor: string, request: Request, json: boolean): Promise<void> {
  const audited = async <T>(entry: Pick<AuditEntry, 'action' | 'target' | 'detail'>, change: () => Promise<T>, done: (result: T) => Partial<Pick<AuditEntry, 'target' | 'detail'>> = () => ({})): Promise<T> => {
    try {
      const result = await change();
      await stores.audit.record({ at: Date.now(), actor, ...entry, ...done(result), outcome: 'ok' });
      return result;
    } catch (err) {
      if (err instanceof AttuneError) await stores.audit.record({ at: Date.now(), actor, ...entry, outcome: 'failed', detail: { ...entry.detail, code: err.code } });
      throw err;
    }
  };
  const changeDetail = (change: LiveChange) => ({ target: change.live.version, detail: { previousVersion: change.previous?.version ?? '' } });
  const printChange = (change: LiveChange): void => {
    console.log(json ? JSON.stringify(change) : `${change.live.version} is live${change.previous === null ? '' : ` (was ${change.previous.version}, now retired)`}; every node follows within seconds`);
  };
  switch (request.subcommand) {
    case 'list': {
      const entries = await admin.list();
      console.log(json ? JSON.stringify({ live: entries.find((e) => e.state === 'live')?.version ?? null, models: entries }) : formatModelTable(entries));
      return;
    }
    case 'register': {
      const entry = await audited({ action: 'model.register', target: request.version ?? request.dir, detail: { dir: request.dir } }, () => admin.register(request.dir, request.version), (e) => ({ target: e.version }));
      console.log(json ? JSON.stringify(entry) : `registered ${entry.version} (candidate) from ${entry.dir}`);
      return;
    }
    case 'promote': {
      const fits: CatalogFit | undefined = request.force ? undefined : (itemIds) => catalogFit(stores, itemIds);
      printChange(await audited({ action: 'model.promote', target: request.version }, () => admin.promote(request.version, fits), changeDetail));
      return;
    }
    case 'rollback':
      printChange(await audited({ action: 'model.rollback', target: 'live' }, () => admin.rollback(), changeDetail));
      return;
    case 'retire': {
      const entry = await audited({ action: 'model.retire', target: request.version }, () => admin.retire(request.version));
      console.log(json ? JSON.stringify(entry) : `${entry.version} retired`);
      return;
    }
  }
}

/** As a node checks a promote: a catalog with items, none of which the bundle knows, is refused. */
async function catalogFit(stores: Stores, itemIds: readonly string[]): Promise<void> {
  const catalog = await stores.catalog.list();
  const known = new Set(catalog.map((item) => item.itemId));
  if (catalog.length > 0 && !itemIds.some((itemId) => known.has(itemId))) {
    throw new AttuneError('MODEL_MISMATCH', `none of the bundle's ${itemIds.length} items is in the catalog (${catalog.length} items): --force to promote it anyway`);
  }
}

/** The registry as a table for people, oldest registration first. */
export function formatModelTable(entries: readonly ModelEntry[]): string {
  if (entries.length === 0) return 'no models registered';
  const time = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
  const rows = entries.map((e) => [e.version, e.state, time(e.registeredAt), time(e.promotedAt), e.lineage.parentVersion ?? '-', String(e.lineage.rows), e.dir]);
  const header = ['VERSION', 'STATE', 'REGISTERED', 'PROMOTED', 'PARENT', 'ROWS', 'DIR'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  return [header, ...rows].map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n');
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
