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
 * CPU and memory of the server child and of this process over one measured window. The bench's
 * own CPU comes from process.cpuUsage (µs resolution); the child's from /proc (10 ms ticks, fine
 * over seconds).
 */
export class UsageWindow {
  private serverCpuStart: number | null = null;
  private benchCpuStart: NodeJS.CpuUsage | null = null;
  private wallStart = 0;
  private readonly rssSamples: number[] = [];
  private machineStart: MachineTicks | null = null;

  constructor(private readonly serverPid: number) {}

  start(): void {
    this.wallStart = performance.now();
    this.serverCpuStart = processCpuMs(this.serverPid);
    this.benchCpuStart = process.cpuUsage();
    this.machineStart = machineTicks();
    this.sampleRss();
  }

  /** Called about once a second; samples before start() (warmup) are ignored. */
  sampleRss(): void {
    if (this.serverCpuStart === null && this.benchCpuStart === null) return;
    const rss = processRssMB(this.serverPid);
    if (rss !== null) this.rssSamples.push(rss);
  }

  finish(): {
    wallMs: number;
    serverCpuMs: number | null;
    benchCpuMs: number;
    serverRssMB: number | null;
    serverRssPeakMB: number | null;
    machine: MachineUsage | null;
  } {
    this.sampleRss();
    const wallMs = performance.now() - this.wallStart;
    const serverCpuEnd = processCpuMs(this.serverPid);
    const benchCpu = process.cpuUsage(this.benchCpuStart ?? undefined);
    const serverCpuMs = this.serverCpuStart === null || serverCpuEnd === null ? null : serverCpuEnd - this.serverCpuStart;
    const benchCpuMs = (benchCpu.user + benchCpu.system) / 1000;
    return {
      wallMs,
      serverCpuMs,
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
