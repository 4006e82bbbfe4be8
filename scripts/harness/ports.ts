import { createServer } from 'node:net';
import { SetupError } from './setup-error.js';

const LOOPBACK = '127.0.0.1';

/** A port the OS says is free right now on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, LOOPBACK, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new SetupError('could not find a free port'))));
    });
  });
}

/** Fails unless `port` can be bound on loopback now, so /healthz can't be answered by a stranger. */
export async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new SetupError(`port ${port} on ${LOOPBACK} is not free (${err.code ?? err.message})`)));
    probe.listen(port, LOOPBACK, () => probe.close(() => resolve()));
  });
}

/**
 * A port for a redis-server: free now, and its cluster bus port (+10000) too. Ports are drawn at
 * random from a range where both fit (the OS's own picks can leave no room for the bus), so
 * parallel test files rarely collide.
 */
export async function freeRedisPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if ((await canBind(port)) && (await canBind(port + 10000))) return port;
  }
  throw new SetupError('no free port pair found');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolve(true)));
  });
}
