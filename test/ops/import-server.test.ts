import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { authHeaders, connectClient, startLocalServer, testSecurity, waitFor } from '../helpers.js';

t.test('an import job through a running embedded server', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imp-srv-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startLocalServer({ security: testSecurity, importDir: dir });
  t.teardown(() => server.close());
  const client = await connectClient(server.url, { sessionId: 'watcher', userId: 'zed' });
  t.teardown(() => client.close());
  await client.push();
  const pushesBefore = client.pushes.length;
  const now = Math.floor(Date.now() / 1000);
  const lines = ['USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE'];
  for (let i = 0; i < 300; i++) lines.push(`u${i % 30},imported-hit,${now - i},purchase`);
  lines.push('zed,imported-hit,' + now + ',view', 'bad,,1,view');
  writeFileSync(join(dir, 'i.csv'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'items.jsonl'), '{"ITEM_ID":"imported-hit","CATEGORY":"shoes","TITLE":"Hit"}\n');
  const res = await fetch(`${server.url}/v1/import-jobs`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ interactions: join(dir, 'i.csv'), items: 'items.jsonl' }) });
  t.equal(res.status, 202);
  const { jobId } = (await res.json()) as { jobId: string };
  let view: Record<string, unknown> = {};
  await waitFor('job', async () => {
    view = (await (await fetch(`${server.url}/v1/import-jobs/${jobId}`, { headers: authHeaders })).json()) as Record<string, unknown>;
    return view.status !== 'running';
  });
  t.match(view, { status: 'succeeded', report: { interactions: { imported: 301, rejected: 1 }, items: { imported: 1 } } });
  const popular = (await (await fetch(`${server.url}/v1/popular?numResults=3`, { headers: authHeaders })).json()) as { items: Array<{ itemId: string }> };
  t.equal(popular.items[0].itemId, 'imported-hit', JSON.stringify(popular));
  t.equal(server.catalog.get('imported-hit')?.category, 'shoes');
  const entry = (await server.stores.log.read(`u:${server.pseudonyms.user('u1')}`, null))[0];
  t.match(entry, { itemCategory: 'shoes' });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /attune_import_rows_total\{kind="interactions",outcome="imported"\} 301/);
  t.match(metrics, /attune_import_jobs_total\{outcome="succeeded"\} 1/);
  // The socket's next push is the one its own event causes: nothing was pushed for the import.
  const ack = await client.emit<{ eventId: string }>('event', { eventType: 'view', itemId: 'shoes-001' });
  const caused = await client.push((p) => p.cause?.eventId === ack.eventId, pushesBefore);
  t.equal(client.pushes.indexOf(caused), pushesBefore, 'no push from the import');
  const bad = await fetch(`${server.url}/v1/import-jobs`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify({ interactions: 'nope.csv' }) });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { code: 'ATTUNE_ERR_VALIDATION', message: 'interactions: nope.csv does not exist' } });
});

t.test('by default import jobs read only under <data-dir>/imports: system files and symlinks out are refused', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'imp-data-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const imports = join(dataDir, 'imports');
  mkdirSync(imports);
  writeFileSync(join(imports, 'users.csv'), 'USER_ID,AGE\numa,30\n');
  symlinkSync('/etc/passwd', join(imports, 'passwd.csv'));
  symlinkSync('/proc/self/environ', join(imports, 'environ.jsonl'));
  const server = await startLocalServer({ security: testSecurity, dataDir });
  t.teardown(() => server.close());
  const post = async (body: Record<string, string>) => {
    const res = await fetch(`${server.url}/v1/import-jobs`, { method: 'POST', headers: { ...authHeaders, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  };
  // What the refused files hold: none of it may come back.
  const environ = readFileSync('/proc/self/environ', 'utf8').split('\0')[0];
  const refusals: Array<{ users: string; format?: string }> = [{ users: '/proc/self/environ' }, { users: '/etc/passwd', format: 'csv' }, { users: 'passwd.csv' }, { users: 'environ.jsonl' }, { users: '../imports/../../etc/passwd', format: 'csv' }];
  for (const body of refusals) {
    const refused = await post(body);
    t.equal(refused.status, 400, JSON.stringify(body));
    t.match(JSON.parse(refused.text), { error: { code: 'ATTUNE_ERR_VALIDATION', message: `users: ${body.users} is not under the import directory` } });
    t.notOk(refused.text.includes('root:x:0') || refused.text.includes(environ), 'no file content');
  }
  const accepted = await post({ users: 'users.csv' });
  t.equal(accepted.status, 202, accepted.text);
  const { jobId } = JSON.parse(accepted.text) as { jobId: string };
  await waitFor('the job', async () => ((await (await fetch(`${server.url}/v1/import-jobs/${jobId}`, { headers: authHeaders })).json()) as { status: string }).status !== 'running');
  t.match(await (await fetch(`${server.url}/v1/import-jobs/${jobId}`, { headers: authHeaders })).json(), { status: 'succeeded', request: { users: join(imports, 'users.csv') }, report: { users: { imported: 1 } } });
  t.strictSame((await (await fetch(`${server.url}/v1/import-jobs`, { headers: authHeaders })).json()) as unknown, { jobs: [await (await fetch(`${server.url}/v1/import-jobs/${jobId}`, { headers: authHeaders })).json()] }, 'no job was started for the refused requests');
});
