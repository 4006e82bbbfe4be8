/** The bench's command line: `--flag value`, `--flag=value`, and `--no-baseline` / `--baseline=false`. */
export interface BenchArgs {
  sockets: number;
  rate: number;
  seconds: number;
  warmup: number;
  baseline: boolean;
  /** Attune listens on portBase, the baseline on portBase + 1; null picks free ports. */
  portBase: number | null;
  connectBatch: number;
  /** Runs the Attune child with --cpu-prof, writing a .cpuprofile under var/bench/profiles/. */
  profile: boolean;
  /** Extra node flags for the Attune child, e.g. "--trace-gc --max-semi-space-size=64". */
  nodeArgs: string[];
  /** With N > 0, also run N nodes on a private Redis and measure them (cross-node pushes among them). */
  nodes: number;
  /** Shard count of the cluster run. */
  shards: number;
  /** Lease TTL of the cluster run, ms. */
  leaseTtlMs: number;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --sockets N        socket.io clients (default 1000)
  --rate R           offered events per second, open loop (default 2000)
  --seconds D        measured seconds (default 20)
  --warmup W         seconds sent before measuring, not counted (default 3)
  --baseline=false   skip the echo-server baseline run (also --no-baseline)
  --port-base P      attune on P, baseline on P+1; with --nodes also Redis on P+2 and node i
                     on P+3+i (default: free ports)
  --connect-batch B  sockets connecting at once (default 50)
  --profile          run the attune server with --cpu-prof (profile in var/bench/profiles/)
  --node-args "A B"  extra node flags for the attune server child (e.g. "--trace-gc")
  --nodes N          also run an N-node cluster on a private Redis (sockets round-robin over the
                     nodes) and report event-to-push for all events and for cross-node ones
                     (socket's node != owner of the session's shard), throughput, and CPU per
                     event per node; the single-node run is then the baseline (default 0: off)
  --shards S         shard count of the cluster run (default 256)
  --lease-ttl-ms T   lease TTL of the cluster run (default 5000)
  --help             this text

Prints one JSON object on stdout and progress plus a summary line on stderr; also writes
var/bench/bench-<timestamp>.json, .svg, and each server's output to bench-<timestamp>-<name>.log.`;

export class ArgsError extends Error {
  override name = 'ArgsError';
}

const DEFAULTS: BenchArgs = { sockets: 1000, rate: 2000, seconds: 20, warmup: 3, baseline: true, portBase: null, connectBatch: 50, profile: false, nodeArgs: [], nodes: 0, shards: 256, leaseTtlMs: 5000, help: false };

type NumberKey = 'sockets' | 'rate' | 'seconds' | 'warmup' | 'portBase' | 'connectBatch' | 'nodes' | 'shards' | 'leaseTtlMs';
const NUMBERS: Readonly<Record<string, { key: NumberKey; min: number; max: number; integer: boolean }>> = {
  sockets: { key: 'sockets', min: 1, max: 20_000, integer: true },
  rate: { key: 'rate', min: 0.1, max: 100_000, integer: false },
  seconds: { key: 'seconds', min: 0.1, max: 3600, integer: false },
  warmup: { key: 'warmup', min: 0, max: 600, integer: false },
  'port-base': { key: 'portBase', min: 1024, max: 65534, integer: true },
  'connect-batch': { key: 'connectBatch', min: 1, max: 1000, integer: true },
  nodes: { key: 'nodes', min: 0, max: 32, integer: true },
  shards: { key: 'shards', min: 1, max: 16384, integer: true },
  'lease-ttl-ms': { key: 'leaseTtlMs', min: 300, max: 600_000, integer: true },
};
const BOOLEANS: Readonly<Record<string, 'baseline' | 'profile' | 'help'>> = { baseline: 'baseline', profile: 'profile', help: 'help' };

function parseBool(raw: string, flag: string): boolean {
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ArgsError(`--${flag} must be true or false, got "${raw}"`);
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ArgsError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let inline = eq === -1 ? undefined : arg.slice(eq + 1);
    if (name.startsWith('no-') && BOOLEANS[name.slice(3)] !== undefined && inline === undefined) {
      name = name.slice(3);
      inline = 'false';
    }
    const bool = BOOLEANS[name];
    if (bool !== undefined) {
      // A bare boolean flag means true; `--baseline false` is accepted too.
      const next = argv[i + 1];
      const raw = inline ?? (next !== undefined && /^(true|false|yes|no|on|off|1|0)$/.test(next) ? argv[++i] : 'true');
      args[bool] = parseBool(raw, name);
      continue;
    }
    if (name === 'node-args') {
      const raw = inline ?? argv[++i];
      if (raw === undefined) throw new ArgsError('--node-args needs a value');
      args.nodeArgs = raw.split(/\s+/).filter((a) => a !== '');
      continue;
    }
    const spec = NUMBERS[name];
    if (spec === undefined) throw new ArgsError(`unknown option --${name}\n\n${USAGE}`);
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new ArgsError(`--${name} needs a value`);
    const value = Number(raw);
    if (!Number.isFinite(value) || value < spec.min || value > spec.max || (spec.integer && !Number.isInteger(value))) {
      throw new ArgsError(`--${name} must be ${spec.integer ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}, got "${raw}"`);
    }
    args[spec.key] = value;
  }
  return args;
}
