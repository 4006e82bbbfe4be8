import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc CPU times; 100 on every common Linux, asked once anyway. */
const CLOCK_TICKS: number = (() => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU of a process (all its threads, e.g. onnxruntime's), in ms. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 (utime) and 15 (stime) of proc(5); field 3 (state) is index 0 here.
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / CLOCK_TICKS : null;
  } catch {
    return null;
  }
}

/** Resident set size in MB, from VmRSS. */
export function processRssMB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

interface MachineTicks {
  total: number;
  idle: number;
  steal: number;
}

/** The aggregate `cpu` line of /proc/stat, in ticks. */
function machineTicks(): MachineTicks | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    return Number.isFinite(total) ? { total, idle: idle + iowait, steal } : null;
  } catch {
    return null;
  }
}

/** What the whole machine did during the window, in % of ONE core (so 200 = both cores of two). */
export interface MachineUsage {
  busyPercent: number;
  /** Time the hypervisor ran something else on our vCPUs: latency nobody in the VM can see. */
  stealPercent: number;
  /** Busy time of everything but the server child and the bench: noisy neighbours. */
  othersPercent: number | null;
}

/**
 * CPU and memory of the server child (or children: the nodes of a cluster and its Redis) and of
 * this process over one measured window. The bench's own CPU comes from process.cpuUsage (µs
 * resolution); the children's from /proc (10 ms ticks, fine over seconds).
 */
export class UsageWindow {
  private readonly serverPids: number[];
  private serverCpuStarts: Array<number | null> = [];
  private benchCpuStart: NodeJS.CpuUsage | null = null;
  private wallStart = 0;
  /** Per sample, the summed RSS of the servers. */
  private readonly rssSamples: number[] = [];
  private readonly rssSamplesByPid: number[][];
  private machineStart: MachineTicks | null = null;
  private started = false;

  constructor(serverPid: number | readonly number[]) {
    this.serverPids = typeof serverPid === 'number' ? [serverPid] : [...serverPid];
    this.rssSamplesByPid = this.serverPids.map(() => []);
  }

  start(): void {
    this.started = true;
    this.wallStart = performance.now();
    this.serverCpuStarts = this.serverPids.map((pid) => processCpuMs(pid));
    this.benchCpuStart = process.cpuUsage();
    this.machineStart = machineTicks();
    this.sampleRss();
  }

  /** Called about once a second; samples before start() (warmup) are ignored. */
  sampleRss(): void {
    if (!this.started) return;
    let total = 0;
    let any = false;
    this.serverPids.forEach((pid, i) => {
      const rss = processRssMB(pid);
      if (rss === null) return;
      this.rssSamplesByPid[i].push(rss);
      total += rss;
      any = true;
    });
    if (any) this.rssSamples.push(total);
  }

  finish(): {
    wallMs: number;
    /** Summed over the server processes; null if any could not be read. */
    serverCpuMs: number | null;
    /** Per server process, in constructor order. */
    perServer: Array<{ pid: number; cpuMs: number | null; rssMB: number | null; rssPeakMB: number | null }>;
    benchCpuMs: number;
    serverRssMB: number | null;
    serverRssPeakMB: number | null;
    machine: MachineUsage | null;
  } {
    this.sampleRss();
    const wallMs = performance.now() - this.wallStart;
    const perServer = this.serverPids.map((pid, i) => {
      const end = processCpuMs(pid);
      const start = this.serverCpuStarts[i] ?? null;
      const rss = this.rssSamplesByPid[i];
      return { pid, cpuMs: start === null || end === null ? null : end - start, rssMB: rss.at(-1) ?? null, rssPeakMB: rss.length > 0 ? Math.max(...rss) : null };
    });
    const benchCpu = process.cpuUsage(this.benchCpuStart ?? undefined);
    const serverCpuMs = perServer.some((p) => p.cpuMs === null) ? null : perServer.reduce((sum, p) => sum + (p.cpuMs ?? 0), 0);
    const benchCpuMs = (benchCpu.user + benchCpu.system) / 1000;
    return {
      wallMs,
      serverCpuMs,
      perServer,
      benchCpuMs,
      serverRssMB: this.rssSamples.at(-1) ?? null,
      serverRssPeakMB: this.rssSamples.length > 0 ? Math.max(...this.rssSamples) : null,
      machine: this.machineUsage(wallMs, serverCpuMs, benchCpuMs),
    };
  }

  private machineUsage(wallMs: number, serverCpuMs: number | null, benchCpuMs: number): MachineUsage | null {
    const end = machineTicks();
    if (this.machineStart === null || end === null || wallMs <= 0) return null;
    const toMs = 1000 / CLOCK_TICKS;
    const stealMs = (end.steal - this.machineStart.steal) * toMs;
    const busyMs = (end.total - this.machineStart.total - (end.idle - this.machineStart.idle)) * toMs - stealMs;
    const percent = (ms: number): number => Math.round((ms / wallMs) * 1000) / 10;
    return {
      busyPercent: percent(busyMs),
      stealPercent: percent(stealMs),
      othersPercent: serverCpuMs === null ? null : percent(Math.max(0, busyMs - serverCpuMs - benchCpuMs)),
    };
  }
}
