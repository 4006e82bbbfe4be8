/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import t from 'tap';
import { chromium } from 'playwright-core';
import { connectClient, startLocalServer, TEST_KEY, testSecurity, waitFor } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';

t.test('the replay page steps through a session: events, state, list moves, recorded pushes', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)` }, async (t) => {
  const server = await startLocalServer({ security: testSecurity });
  t.teardown(() => server.close());
  const client = await connectClient(server.url, { sessionId: 'stepped' });
  t.teardown(() => client.close());
  await client.push();
  const ack = await client.emit<{ eventId: string }>('event', { eventType: 'view', itemId: 'coffee-001' });
  await client.push((p) => p.cause?.eventId === ack.eventId);
  // A second view of the same item leaves the top 20 as it was: no push. The node's second
  // scoring pass (one per event; the first list is not one) is the sign that it was scored.
  await client.emit('event', { eventType: 'view', itemId: 'coffee-001' });
  const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? NaN);
  await waitFor('the second event scored', async () => (await metric('attune_inference_latency_seconds_count')) === 2);
  t.equal(await metric('attune_pushes_total\\{arm="live"\\}'), 1, 'only the first view pushed');
  t.equal(client.pushes.length, 2);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${server.url}/replay.html`);
  await page.fill('#who', 'stepped');
  await page.fill('#api-key', TEST_KEY);
  await page.click('#replay-form button');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('reproduced exactly') === true);
  t.match(await page.textContent('#status'), /s:stepped, model \S+: 2 log entries; 1 pushes recorded, 1 caused by these events, 1 reproduced exactly\./);
  t.match(await page.textContent('#event'), /: view coffee-001/);
  t.equal(await page.textContent('#recorded'), `Pushed: the same list (model ${server.model.manifest.version}, arm live).`);
  t.equal(await page.isDisabled('#prev'), true);
  await page.click('#next');
  t.match(await page.textContent('#event'), /: view coffee-001/);
  t.match(await page.textContent('#categories li:first-child'), /^coffee [\d.]+ \(\+[\d.]+\)$/, 'the category weight grew');
  t.equal(await page.textContent('#changed'), '(unchanged)');
  t.equal(await page.textContent('#recorded'), 'No push was recorded for this event.');
  t.equal(await page.$$eval('#list li', (items) => items.length), 20);
  t.equal(await page.isDisabled('#next'), true);

  await page.fill('#who', 'nobody-here');
  await page.click('#replay-form button');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('ATTUNE_ERR_NOT_FOUND') === true);
  t.strictSame(pageErrors, [], 'no errors in the page');
});
