import type { NodeBus } from '../store/types.js';

export interface RegistryWatchDeps {
  bus: NodeBus;
  pollMs: number;
  /** One look at the registry and what follows from it. */
  check: () => Promise<void>;
  /** A check failed (the registry could not be read...): the next one tries again. */
  onError: (err: unknown) => void;
}

/**
 * Runs a check of the model registry at start, at every `models-changed` on the node bus (at
 * once) and every `pollMs` (what the bus lost), one at a time: a check asked for while one runs
 * runs once more after it, so no change is missed and none is followed twice at once.
 */
export class RegistryWatch {
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private stopped = false;

  constructor(private readonly deps: RegistryWatchDeps) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  async start(): Promise<void> {
    await this.sync();
    this.unsubscribe = await this.deps.bus.subscribe((message) => {
      if (message.type === 'models-changed') void this.sync();
    });
    this.timer = setInterval(() => void this.sync(), this.deps.pollMs);
    this.timer.unref();
  }

  /** Resolves once a check begun after the call is done. Never rejects. */
  sync(): Promise<void> {
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.deps.check();
        } catch (err) {
          this.deps.onError(err);
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.unsubscribe?.();
    this.unsubscribe = null;
    await this.running;
  }
}
