import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { heldShards, parseOwnership, type OwnershipChange } from './ownership.js';
import { repoRoot } from './repo-root.js';
import { parseJsonLine, ServerProcess, spawnTracked, waitUntilAnswering, type OutputOptions } from './server-process.js';

/**
 * Which code a node runs. `built`: bin/attune.js, the compiled dist/ (the benchmarks; `npm run
 * build` first). `source`: src/cli/main.ts through the TypeScript loader tap runs the tests with
 * (ts-node, transpile-only), so a node always runs the working tree's src/, never a stale dist/,
 * with no build step; that costs ~2 s of CPU per node start.
 */
export type NodeEntry = 'source' | 'built';

export interface NodeOptions extends OutputOptions {
  nodeId: string;
  redisUrl: string;
  entry: NodeEntry;
  /** 0 (the default): the node picks a free port, and its URL is read from its log. */
  port?: number;
  /**
   * Every node runs in development mode (sockets take bare sessionIds; the nodes of one cluster
   * make up the same token secret and pseudonym key) with this master key, which authenticates
   * the caller's HTTP calls on every node alike.
   */
  masterKey: string;
  /** `attune serve` flags after the ones set here (--shards, --lease-ttl-ms, --model, ...); a later flag wins. */
  serveArgs?: readonly string[];
  /** Flags for node itself (--cpu-prof, ...). */
  nodeArgs?: readonly string[];
  logLevel?: 'info' | 'warn' | 'debug';
  /** The node's environment (the entry adds what it needs); this process's own unless given. */
  env?: NodeJS.ProcessEnv;
  /** Own process group: a terminal's Ctrl-C then reaches only the parent, which stops the nodes in order. */
  detached?: boolean;
  readyTimeoutMs: number;
}

/**
 * A running `attune serve --redis` process. Its ownership log lines are parsed as they arrive
 * (`ownership`), so a caller can wait on them, audit them, and tell which node holds a shard.
 */
export class NodeProcess extends ServerProcess {
  readonly ownership: OwnershipChange[] = [];
  url: string;

  constructor(
    readonly nodeId: string,
    child: ChildProcess,
    port: number,
    output: OutputOptions,
  ) {
    super(nodeId, child, output);
    this.url = port === 0 ? '' : `http://127.0.0.1:${port}`;
  }

  /** Shards this node holds now by its own log (a killed or paused node keeps what it logged). */
  ownedShards(): number[] {
    return heldShards(this.ownership);
  }

  protected override handleLine(line: string): void {
    super.handleLine(line);
    const change = parseOwnership(line);
    if (change !== null) this.ownership.push(change);
    const parsed = this.url === '' ? parseJsonLine(line) : null;
    if (parsed !== null && typeof parsed.msg === 'string') {
      const match = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(parsed.msg);
      if (match) this.url = match[1];
    }
  }
}

/** The node binary's arguments up to `serve`, and what the entry adds to its environment. */
function entryCommand(entry: NodeEntry, root: string): { argv: string[]; env: NodeJS.ProcessEnv } {
  if (entry === 'built') return { argv: [join(root, 'bin', 'attune.js')], env: {} };
  const loader = process.execArgv.find((arg) => arg.includes('@tapjs/typescript')) ?? `--import=${import.meta.resolve('@tapjs/typescript/import')}`;
  return { argv: ['--enable-source-maps', loader, join(root, 'src', 'cli', 'main.ts')], env: { TS_NODE_TRANSPILE_ONLY: '1' } };
}

/**
 * Starts `attune serve --redis ... --node-id ... --host 127.0.0.1` and resolves once its /readyz
 * answers 200 (it reached the lease store). Fails with its output if it exits first, and after
 * `readyTimeoutMs` otherwise, killing it.
 */
export async function startNode(options: NodeOptions): Promise<NodeProcess> {
  const root = repoRoot();
  const entry = entryCommand(options.entry, root);
  const port = options.port ?? 0;
  const args = [
    ...(options.nodeArgs ?? []),
    ...entry.argv,
    'serve',
    '--redis', options.redisUrl,
    '--node-id', options.nodeId,
    '--host', '127.0.0.1',
    '--port', String(port),
    // Each shard's gain and loss is a debug line; the harness reads them to audit ownership.
    '--log-level', options.logLevel ?? 'debug',
    '--dev',
    '--master-key', options.masterKey,
    ...(options.serveArgs ?? []),
  ];
  const child = spawnTracked({ args, cwd: root, env: { ...(options.env ?? process.env), ...entry.env }, detached: options.detached });
  const node = new NodeProcess(options.nodeId, child, port, { onLine: options.onLine, logFile: options.logFile });
  try {
    const started = Date.now();
    await node.waitFor('its URL in the log', () => node.url !== '' || !node.alive, options.readyTimeoutMs);
    await waitUntilAnswering(node, node.url, '/readyz', options.readyTimeoutMs - (Date.now() - started));
  } catch (err) {
    node.kill('SIGKILL');
    throw err;
  }
  return node;
}
