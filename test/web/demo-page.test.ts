/// <reference lib="dom" />
// The callbacks passed to page.$$eval and waitForFunction run in the browser.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { chromium } from 'playwright-core';
import { startLocalServer, testSecurity } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT_DIR = join('var', 'screenshots');

t.test('the demo page re-orders its grid live after a click', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(server.url + '/');
  await page.waitForSelector('#grid .card');
  await page.waitForFunction(() => document.querySelector('#connection')?.textContent === 'live');
  const before = await page.$$eval('#grid .card', (cards) => cards.map((c) => (c as HTMLElement).dataset.itemId));
  t.equal(before.length, 20, 'the grid shows the pushed list');

  // Click a card lower in the grid: its category's neighbours should move up.
  const target = page.locator('#grid .card').nth(7);
  const category = await target.getAttribute('data-category');
  await target.click();
  await page.waitForFunction(() => document.body.dataset.pushes === '2');
  const after = await page.$$eval('#grid .card', (cards) => cards.map((c) => ({ id: (c as HTMLElement).dataset.itemId, category: (c as HTMLElement).dataset.category })));
  t.notSame(after.map((c) => c.id), before, 'the grid changed without a reload');
  t.ok(after.slice(0, 5).every((c) => c.category === category), `the top of the grid is now ${category}`);
  t.match(await page.textContent('#cause'), /^view on /);
  t.match(await page.textContent('#latency'), /^\d+\.\d ms$/, 'the page shows the measured event-to-push time');
  // The page waits a second for each event's push; once that wait is over for the click, the
  // label still names the click's push (it came, so the list did change).
  const cause = await page.textContent('#cause');
  await page.waitForFunction(() => document.body.dataset.settled !== undefined);
  t.equal(await page.textContent('#cause'), cause, 'the label still names the pushed event');
  t.notMatch(await page.textContent('#cause'), /list unchanged/);

  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, 'demo-after-click.png');
  await page.screenshot({ path: file, fullPage: true });
  t.ok(statSync(file).size > 10_000, `screenshot saved to ${file}`);
  t.strictSame(pageErrors, [], 'no errors in the page');
});
