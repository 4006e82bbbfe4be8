import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { rendezvousOwner } from '../../src/actors/shard-ownership.js';
import { SetupError } from './child.js';
import { DEV_SERVE_ARGS } from '../bench-lib/security.js';

/** One ownership log line of a node: `{"time", "event", "nodeId", "shard", "epoch", "reason"?}`. */
export interface OwnershipChange {
  time: number;
  event: 'shard-gained' | 'shard-lost';
  nodeId: string;
  shard: number;
  epoch: number;
  reason?: string;
}

/** An `attune serve --redis` process of a local cluster. */
export interface NodeChild {
  nodeId: string;
  port: number;
  url: string;
  pid: number;
  process: ChildProcess;
  /** Ownership changes parsed from its log, in order. */
  ownership: OwnershipChange[];
  /** Shards it holds now by its log. */
  ownedShards(): number[];
  outputTail(): string;
}

export interface NodeChildOptions {
  /** The repository root (bin/attune.js lives there). */
  root: string;
  nodeId: string;
  port: number;
  redisUrl: string;
  /** Flags for `attune serve` after the ones set here (--shards, --lease-ttl-ms, --model, ...); a later flag wins. */
  serveArgs: readonly string[];
  /** Flags for node itself (--cpu-prof, ...). */
  nodeArgs?: readonly string[];
  logLevel?: 'info' | 'warn' | 'debug';
  /** Every output line, e.g. to print it prefixed. */
  onLine?: (line: string) => void;
  /** The whole output also goes here. */
  logFile?: string;
  timeoutMs: number;
  /** Own process group: a terminal's Ctrl-C then reaches only the parent, which stops nodes in order. */
  detached?: boolean;
  /** Called right after the spawn, before readiness, so the caller can track and clean up the child. */
  onSpawn?: (child: ChildProcess) => void;
}

const TAIL_CHARS = 4000;

/**
 * Starts `node bin/attune.js serve --redis ... --node-id ... --port ...` and resolves once its
 * /readyz answers 200 (it reached the lease store). Fails fast with its output if it exits
 * first, and after `timeoutMs` otherwise. Every node runs in development mode with the scripts'
 * master key (DEV_SERVE_ARGS): the nodes of one cluster share its made-up secrets.
 */
export async function startNodeChild(options: NodeChildOptions): Promise<NodeChild> {
  const args = [
    ...(options.nodeArgs ?? []),
    join(options.root, 'bin', 'attune.js'),
    'serve',
    '--redis', options.redisUrl,
    '--node-id', options.nodeId,
    '--port', String(options.port),
    '--host', '127.0.0.1',
    '--log-level', options.logLevel ?? 'info',
    ...DEV_SERVE_ARGS,
    ...options.serveArgs,
  ];
  const child = spawn(process.execPath, args, { cwd: options.root, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  options.onSpawn?.(child);
  const ownership: OwnershipChange[] = [];
  let tail = '';
  let log: WriteStream | null = options.logFile === undefined ? null : createWriteStream(options.logFile);
  child.once('exit', () => {
    log?.end();
    log = null;
  });
  const onLine = (line: string): void => {
    tail = `${tail}${line}\n`.slice(-TAIL_CHARS);
    log?.write(`${line}\n`);
    const change = parseOwnership(line);
    if (change !== null) ownership.push(change);
    options.onLine?.(line);
  };
  for (const stream of [child.stdout, child.stderr]) if (stream !== null) createInterface({ input: stream }).on('line', onLine);
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? `code ${code}`}`));
  child.once('error', (err) => (exited = `failed to start: ${err.message}`));

  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (exited !== null) throw new SetupError(`${options.nodeId} ${exited} before it was ready; its output:\n${tail.trim() || '(none)'}`);
    if (await ready(url)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new SetupError(`${options.nodeId} did not answer ${url}/readyz within ${options.timeoutMs} ms; its output:\n${tail.trim() || '(none)'}`);
    }
    await sleep(100);
  }
  if (child.pid === undefined) throw new SetupError(`${options.nodeId} has no pid`);
  return {
    nodeId: options.nodeId,
    port: options.port,
    url,
    pid: child.pid,
    process: child,
    ownership,
    ownedShards: () => heldShards(ownership),
    outputTail: () => tail,
  };
}

async function ready(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

export function parseOwnership(line: string): OwnershipChange | null {
  if (!line.startsWith('{') || !line.includes('"shard-')) return null;
  try {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const { event, shard, epoch, time, nodeId, reason } = parsed;
    if ((event !== 'shard-gained' && event !== 'shard-lost') || typeof shard !== 'number' || typeof epoch !== 'number' || typeof time !== 'number') return null;
    return { time, event, nodeId: String(nodeId), shard, epoch, ...(typeof reason === 'string' ? { reason } : {}) };
  } catch {
    return null;
  }
}

/** Shards held after these ownership changes of one node, in order. */
export function heldShards(changes: readonly OwnershipChange[]): number[] {
  const held = new Set<number>();
  for (const change of changes) {
    if (change.event === 'shard-gained') held.add(change.shard);
    else held.delete(change.shard);
  }
  return [...held].sort((a, b) => a - b);
}

/** shard -> nodeId by the nodes' logs; null when some shard has no holder or two. */
export function ownerMap(nodes: readonly NodeChild[], shards: number): Map<number, string> | null {
  const owners = new Map<number, string>();
  for (const node of nodes) {
    for (const shard of node.ownedShards()) {
      if (owners.has(shard)) return null;
      owners.set(shard, node.nodeId);
    }
  }
  return owners.size === shards ? owners : null;
}

/**
 * Waits until every shard has exactly one holder by the logs and that matches the rendezvous
 * assignment over these nodes (the cluster has settled). Returns the owner map.
 */
export async function waitForSettled(nodes: readonly NodeChild[], shards: number, timeoutMs: number): Promise<Map<number, string>> {
  const ids = nodes.map((n) => n.nodeId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const owners = ownerMap(nodes, shards);
    if (owners !== null && [...owners].every(([shard, node]) => rendezvousOwner(shard, ids) === node)) return owners;
    if (Date.now() > deadline) {
      const counts = nodes.map((n) => `${n.nodeId}=${n.ownedShards().length}`).join(' ');
      throw new SetupError(`the ${nodes.length} nodes did not settle on one owner per shard within ${timeoutMs} ms (${counts} of ${shards})`);
    }
    await sleep(50);
  }
}

/** SIGTERM (so it hands its shards off), SIGKILL after `graceMs`. Resolves once it is gone. */
export async function stopNodeChild(node: { process: ChildProcess }, graceMs = 15_000): Promise<void> {
  const proc = node.process;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGCONT');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}
