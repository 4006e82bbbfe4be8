// The container's HEALTHCHECK (see Dockerfile): exits 0 when the node in this container answers
// GET /healthz (or the path given as the argument: deploy/compose.yaml asks /readyz) with 200, 1
// otherwise. It reads the node's own settings from the environment (ATTUNE_PORT or PORT,
// ATTUNE_HOST, ATTUNE_TLS_CERT), so a port or TLS set there needs nothing more.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const path = process.argv[2] || '/healthz';
const port = Number(process.env.ATTUNE_PORT || process.env.PORT || 8080);
const listening = process.env.ATTUNE_HOST || '0.0.0.0';
// A node listening on every interface answers on loopback; one bound to an address answers there.
const host = listening === '0.0.0.0' || listening === '::' ? '127.0.0.1' : listening;
const tls = Boolean(process.env.ATTUNE_TLS_CERT);
const request = tls ? httpsRequest : httpRequest;

// The certificate names the service's public host, not this address: the check only asks whether the node answers.
const probe = request({ host, port, path, timeout: 2000, rejectUnauthorized: false }, (response) => {
  response.resume();
  if (response.statusCode !== 200) console.error(`healthcheck: ${path} answered ${response.statusCode}`);
  process.exit(response.statusCode === 200 ? 0 : 1);
});
probe.on('timeout', () => probe.destroy(new Error('no answer within 2 s')));
probe.on('error', (err) => {
  console.error(`healthcheck: ${host}:${port}${path}: ${err.message}`);
  process.exit(1);
});
probe.end();
