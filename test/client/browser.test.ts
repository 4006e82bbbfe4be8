/// <reference lib="dom" />
// The callbacks passed to page.evaluate and waitForFunction run in the browser.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { chromium } from 'playwright-core';
import type { AttuneClient, ConnectionStatus, Recommendations, } from '../../clients/js/src/index.js';
import { signSocketToken } from '../../src/security/socket-tokens.js';
import { freePort } from '../../scripts/harness/ports.js';
import { repoRoot } from '../../scripts/harness/repo-root.js';
import { startRedis } from '../../scripts/harness/redis-server.js';
import { demoModelDir, waitFor } from '../helpers.js';
import { startNode } from '../support/cluster-nodes.js';
import { loggedEvents } from './support.js';

/**
 * The browser bundle in Chromium, on a page of its own origin (a customer's site), against a
 * Redis-backed node process: connect, track, push, token refresh, and events tracked while the
 * node is down surviving a page reload in localStorage and reaching the next node exactly once.
 */

const CHROMIUM = '/usr/bin/chromium';
const BUNDLE = join(repoRoot(), 'clients', 'js', 'dist', 'browser', 'attune.js');
const TOKEN_SECRET = 'client-browser-test-token-secret-0123456789';
const SESSION = 'browser-client';
const STORAGE_KEY = `attune.queue.${SESSION}`;

/** What the page keeps on window for the test to read. */
interface PageState {
  attune: AttuneClient;
  pushes: Recommendations[];
  statuses: ConnectionStatus[];
}
declare global {
  interface Window {
    site: PageState;
  }
}

/** The customer's page: loads the bundle and starts a client whose getToken asks the test (the "backend"). */
function sitePage(attuneUrl: string): string {
  return `<!doctype html><meta charset="utf-8"><title>shop</title><script type="module">
import { createAttune } from '/attune.js';
const site = { pushes: [], statuses: [] };
site.attune = createAttune({ url: ${JSON.stringify(attuneUrl)}, getToken: () => window.attuneToken(), storageKey: ${JSON.stringify(STORAGE_KEY)}, backoff: { baseMs: 100, maxMs: 1000 } });
site.attune.onRecommendations((p) => site.pushes.push(p));
site.attune.onStatus((s) => site.statuses.push(s));
window.site = site;
</script>`;
}

async function startSite(attuneUrl: string): Promise<{ url: string; server: Server }> {
  const bundle = readFileSync(BUNDLE, 'utf8');
  const server = createServer((request, response) => {
    if (request.url === '/attune.js') return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    if (request.url === '/') return void response.writeHead(200, { 'content-type': 'text/html' }).end(sitePage(attuneUrl));
    response.writeHead(404).end();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, server };
}

const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install chromium)` : false;

t.test('the browser bundle: live pushes, token refresh, and an offline queue that survives a reload and a node restart', { skip }, async (t) => {
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (npm run build makes it)`);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const port = await freePort();
  const nodeOptions = { redisUrl: redis.url, shards: 8, leaseTtlMs: 2000, modelDir: await demoModelDir(), port, args: ['--token-secret', TOKEN_SECRET, '--log-level', 'warn'] };
  let node = await startNode({ ...nodeOptions, nodeId: 'client-a' });
  t.teardown(() => node.stop(2000));
  const site = await startSite(node.url);
  t.teardown(() => new Promise<void>((resolve) => site.server.close(() => resolve())));

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // The customer's backend: signs 10 s tokens for the session (as POST /v1/tokens does), even while Attune is down.
  const issued: number[] = [];
  await page.exposeFunction('attuneToken', () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 10;
    issued.push(expiresAt);
    return { token: signSocketToken(TOKEN_SECRET, { sessionId: SESSION, expiresAt }), expiresAt };
  });
  await page.goto(site.url + '/');
  await page.waitForFunction(() => window.site?.pushes.length === 1 && window.site.attune.status.state === 'online');
  t.equal(await page.evaluate(() => window.site.pushes[0].cause), null, 'the list sent on connect');

  const ack = await page.evaluate(() => window.site.attune.track('view', 'shoes-001'));
  t.match(ack, { ok: true, eventId: /^\d+-\d+$/, clientEventId: /^[0-9a-f-]{36}$/ });
  await page.waitForFunction((eventId) => window.site.pushes.some((p) => p.cause?.eventId === eventId), ack.eventId);
  t.equal(await page.evaluate(() => window.site.attune.recommendations?.cause?.itemId), 'shoes-001', 'recommendations is the pushed list');

  // A 10 s token is refreshed at 8 s, with no refusal.
  await waitFor('the token refresh', () => issued.length === 2, 15_000);
  t.ok(Date.now() < issued[0] * 1000, 'refreshed before the first token expired');
  const unauthorized = () => page.evaluate(() => window.site.statuses.filter((s) => s.error?.code === 'ATTUNE_ERR_UNAUTHORIZED').length);
  t.equal(await unauthorized(), 0, 'no token refused');

  const storedQueue = () => page.evaluate((key) => localStorage.getItem(key), STORAGE_KEY);
  const queuedItems = (stored: string | null) => ((JSON.parse(stored ?? '{}') as { events?: Array<{ itemId: string }> }).events ?? []).map((e) => e.itemId);
  const trackAll = (items: string[]) => page.evaluate((list) => list.forEach((item) => void window.site.attune.track('view', item)), items);

  // The node goes away under a live page: events queue, and the page reconnects to the next node on its own.
  await node.stop(5000);
  await page.waitForFunction(() => window.site.attune.status.state !== 'online');
  await trackAll(['shoes-002', 'bags-003']);
  t.strictSame(queuedItems(await storedQueue()), ['shoes-002', 'bags-003'], 'queued in localStorage while the node is down, in order');
  node = await startNode({ ...nodeOptions, nodeId: 'client-b' });
  await page.waitForFunction(() => window.site.attune.status.state === 'online' && window.site.attune.queued === 0, undefined, { timeout: 30_000 });
  t.equal(await storedQueue(), null, 'sent after the reconnect; storage emptied once acknowledged');

  // Down again, and the shopper reloads meanwhile: the new page's client restores the queue.
  await node.stop(5000);
  await page.waitForFunction(() => window.site.attune.status.state !== 'online');
  await trackAll(['coffee-004', 'plants-005']);
  const stored = await storedQueue();
  t.strictSame(queuedItems(stored), ['coffee-004', 'plants-005']);
  await page.reload();
  await page.waitForFunction(() => window.site !== undefined);
  t.equal(await page.evaluate(() => window.site.attune.queued), 2, 'the reloaded page holds the 2 events');
  t.equal(await storedQueue(), stored, 'with the same ids');
  node = await startNode({ ...nodeOptions, nodeId: 'client-c' });
  await page.waitForFunction(() => window.site.attune.status.state === 'online' && window.site.attune.queued === 0, undefined, { timeout: 30_000 });
  t.equal(await storedQueue(), null, 'sent by the reloaded page');

  t.strictSame(
    await loggedEvents(node.url, { sessionId: SESSION }),
    ['view shoes-001', 'view shoes-002', 'view bags-003', 'view coffee-004', 'view plants-005'],
    'the log holds each event once, in order',
  );
  t.equal(await unauthorized(), 0, 'no token refused on the reloaded page either');
  t.strictSame(pageErrors, [], 'no errors in the page');
});
