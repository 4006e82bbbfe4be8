import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startRedis, type RedisServer } from '../../scripts/harness/redis-server.js';

const execFileAsync = promisify(execFile);

export interface RedisCluster {
  readonly nodes: RedisServer[];
  /** `host:port` of every master, to seed a cluster client. */
  readonly seeds: string[];
  stop(): Promise<void>;
}

/**
 * Masters with cluster-enabled, joined by `redis-cli --cluster create` (slots split evenly, no
 * replicas), resolved once every node reports cluster_state:ok. Stops whatever it started if
 * any step fails.
 */
export async function startCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] }));
    }
    const seeds = nodes.map((node) => `127.0.0.1:${node.port}`);
    await execFileAsync('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const node of nodes) await waitForClusterOk(node.port);
    return { nodes, seeds, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Whether this redis-server build accepts cluster mode; tests skip cluster cases when not. */
export async function clusterSupported(): Promise<boolean> {
  try {
    const node = await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] });
    await node.stop();
    return true;
  } catch {
    return false;
  }
}

async function waitForClusterOk(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { stdout } = await execFileAsync('redis-cli', ['-p', String(port), 'cluster', 'info']);
    if (stdout.includes('cluster_state:ok')) return;
    if (Date.now() > deadline) throw new Error(`cluster node ${port} not ok:\n${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
