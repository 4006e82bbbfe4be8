import { mergeConfig, type ConfigOverrides } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import type { InteractionEntry, MergeEntry } from '../src/session/events.js';
import type { SessionState } from '../src/session/state.js';

/** An interaction log entry with defaults for what a test does not care about. */
export function interaction(eventId: string, eventType: string, itemId: string, sentAt: number, itemCategory?: string): InteractionEntry {
  return {
    kind: 'interaction',
    eventId,
    sessionId: 'sess',
    eventType,
    itemId,
    sentAt,
    receivedAt: sentAt,
    ...(itemCategory === undefined ? {} : { itemCategory }),
  };
}

export function merge(eventId: string, state: SessionState, fromKey = 's:anon'): MergeEntry {
  return { kind: 'merge', eventId, fromKey, receivedAt: 0, state };
}

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDemoModel } from '../src/training/demo-model.js';

/** The demo model bundle, trained once per machine by the project's trainer and reused by tests. */
export function demoModelDir(): Promise<string> {
  return ensureDemoModel(join(tmpdir(), 'attune-test'), () => {});
}

/** The master key of in-process test servers: every role, not stored anywhere. */
export const TEST_KEY = 'attune-test-master-key-not-a-secret-0123456789';

/**
 * The `security` config of in-process test servers: development mode (sockets still take a bare
 * `{ sessionId, userId? }`) with the fixed master key, so HTTP calls authenticate with `authHeaders`.
 */
export const testSecurity = { dev: true, masterKey: TEST_KEY } as const;

/** The headers that authenticate an HTTP call with `TEST_KEY`. */
export const authHeaders: Readonly<Record<string, string>> = { authorization: `Bearer ${TEST_KEY}` };

/** Polls until `check` holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

import { io as connectSocket, type Socket } from 'socket.io-client';
import type { RecommendationsPush } from '../src/actors/actor-host.js';

export interface TestClient {
  socket: Socket;
  pushes: RecommendationsPush[];
  /** Resolves with the first push (already received or coming) after `index` that satisfies `match`. */
  push(match?: (p: RecommendationsPush) => boolean, after?: number): Promise<RecommendationsPush>;
  emit<T>(event: string, payload: unknown): Promise<T>;
  close(): void;
}

/** A real socket.io client on the websocket transport, recording every push it gets. */
export async function connectClient(url: string, auth: Record<string, unknown>): Promise<TestClient> {
  const socket = connectSocket(url, { transports: ['websocket'], auth, reconnection: false, forceNew: true });
  const pushes: RecommendationsPush[] = [];
  const waiters: Array<() => void> = [];
  socket.on('recommendations', (p: RecommendationsPush) => {
    pushes.push(p);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  const client: TestClient = {
    socket,
    pushes,
    async push(match = () => true, after = 0) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const found = pushes.slice(after).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching push after #${after} (got ${pushes.length})`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    emit: <T>(event: string, payload: unknown) => socket.timeout(5000).emitWithAck(event, payload) as Promise<T>,
    close: () => socket.close(),
  };
  return client;
}

/** Runs a command with stdout and stderr captured. */
export async function capture(run: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const code = await run();
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
}


/** A server on a free loopback port with the demo model, silent: what most tests start. */
export async function startLocalServer(overrides: ConfigOverrides = {}): Promise<RunningServer> {
  return startServer(mergeConfig({ host: '127.0.0.1', port: 0, modelDir: await demoModelDir(), logLevel: 'silent', ...overrides }));
}
