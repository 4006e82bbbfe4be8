import t from 'tap';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/start.js';
import { demoModelDir } from '../helpers.js';

t.test('attune serve --dev (npm start) listens on loopback only, unless --host says otherwise', async (t) => {
  const model = await demoModelDir();
  for (const [argv, address] of [
    [['--dev'], '127.0.0.1'],
    [['--dev', '--host', '0.0.0.0'], '0.0.0.0'],
  ] as const) {
    const server = await startServer(loadConfig([...argv, '--port', '0', '--model', model, '--log-level', 'silent'], {}));
    try {
      t.equal((server.app.server.address() as AddressInfo).address, address, argv.join(' '));
    } finally {
      await server.close();
    }
  }
});
