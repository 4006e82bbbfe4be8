/// <reference lib="dom" />
// The callbacks passed to page.evaluate and waitForFunction run in the browser.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import t from 'tap';
import { chromium } from 'playwright-core';
import type { AttuneClient } from '../../clients/js/src/index.js';
import { freePort } from '../../scripts/harness/ports.js';
import { repoRoot } from '../../scripts/harness/repo-root.js';
import { startLocalServer, testSecurity } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const CLIENT_SRC = join(repoRoot(), 'clients', 'js', 'src');

/** The folder of `name` as the client package resolves it. */
const clientPackage = (name: string) => dirname(createRequire(join(CLIENT_SRC, 'react.ts')).resolve(`${name}/package.json`));

declare global {
  interface Window {
    attune: AttuneClient;
  }
}

t.test('the main entry does not import react; the react entry does', async (t) => {
  const inputsOf = async (entry: string) => Object.keys((await build({ entryPoints: [join(CLIENT_SRC, entry)], bundle: true, write: false, metafile: true, format: 'esm', platform: 'browser', logLevel: 'silent' })).metafile.inputs);
  t.strictSame((await inputsOf('index.ts')).filter((path) => /node_modules\/react(-dom)?\//.test(path)), [], 'index.ts bundles nothing of react');
  t.ok((await inputsOf('react.ts')).some((path) => path.includes('node_modules/react/')), 'react.ts bundles react');
});

t.test('useRecommendations re-renders a component with each pushed list', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const bundled = await build({
    entryPoints: [join(repoRoot(), 'test', 'client', 'react-app.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"' },
    // One React: the copy the client package resolves (tap brings an older one to the root).
    alias: { react: clientPackage('react'), 'react-dom': clientPackage('react-dom') },
    logLevel: 'silent',
  });
  const app = bundled.outputFiles[0].text;
  const site = createServer((request, response) => {
    if (request.url === '/app.js') return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(app);
    response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><div id="root"></div><script type="module" src="/app.js"></script>');
  });
  const port = await freePort();
  await new Promise<void>((resolve) => site.listen(port, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => site.close(() => resolve())));

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`http://127.0.0.1:${port}/?${new URLSearchParams({ attune: server.url, session: 'react-hook' }).toString()}`);

  await page.waitForFunction(() => document.querySelector('#list')?.getAttribute('data-cause') === 'initial');
  const shown = () => page.$$eval('#list li', (items) => items.map((li) => li.textContent));
  const top5 = () => page.evaluate(() => (window.attune.recommendations?.items ?? []).slice(0, 5).map((item) => item.itemId));
  t.strictSame(await shown(), await top5(), 'the list sent on connect is rendered');
  t.equal((await shown()).length, 5);

  const ack = await page.evaluate(() => window.attune.track('view', 'coffee-001'));
  t.match(ack, { ok: true });
  await page.waitForFunction(() => document.querySelector('#list')?.getAttribute('data-cause') === 'coffee-001');
  t.strictSame(await shown(), await top5(), "the event's push is rendered");
  t.ok((await shown()).every((id) => id?.startsWith('coffee-')), 'the top of the list is coffee now');
  t.strictSame(pageErrors, [], 'no errors in the page');
});
