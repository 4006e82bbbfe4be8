import t from 'tap';
import { PersonalizeEventsClient, PutEventsCommand, PutItemsCommand, PutUsersCommand } from '@aws-sdk/client-personalize-events';
import { GetPersonalizedRankingCommand, GetRecommendationsCommand, PersonalizeRuntimeClient } from '@aws-sdk/client-personalize-runtime';
import { userKey } from '../../src/session/events.js';
import { demoCatalog } from '../../src/demo/catalog.js';
import type { RunningServer } from '../../src/server/start.js';
import { runKeys } from '../../src/cli/keys.js';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { capture, connectClient, startLocalServer, waitFor } from '../helpers.js';

const MASTER = 'personalize-sdk-master-key-0123456789abcdef';
const CAMPAIGN = 'arn:aws:personalize:us-east-1:123456789012:campaign/shop';
const RECOMMENDER = 'arn:aws:personalize:us-east-1:123456789012:recommender/for-you';
const categoryOf = new Map(demoCatalog().map((item) => [item.itemId, item.category]));

let server: RunningServer;
t.before(async () => {
  server = await startLocalServer({ security: { masterKey: MASTER, tokenSecret: 'personalize-sdk-token-secret-0123456789abcd', pseudonymKey: 'personalize-sdk-pseudonym-key-0123456789abc' } });
});
t.teardown(() => server.close());

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${MASTER}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** SDK clients signing with the AWS credentials of a new Attune key with these roles. */
async function clients(roles: string[]) {
  const created = await admin('POST', '/v1/admin/keys', { name: `sdk ${roles.join('+')}`, roles });
  const credentials = { accessKeyId: String(created.body.awsAccessKeyId), secretAccessKey: String(created.body.awsSecretAccessKey) };
  const options = { endpoint: server.url, region: 'eu-west-1', credentials, maxAttempts: 1 };
  return { id: String(created.body.id), credentials, events: new PersonalizeEventsClient(options), runtime: new PersonalizeRuntimeClient(options) };
}

const errorOf = async (promise: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> => {
  try {
    await promise;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('expected the call to fail');
};


t.test('PutItems, PutUsers and PutEvents through the events client; the events drive live socket pushes', async (t) => {
  const { events } = await clients(['ingest']);
  await events.send(
    new PutItemsCommand({
      datasetArn: 'arn:aws:personalize:eu-west-1:123456789012:dataset/shop/ITEMS',
      items: [
        { itemId: 'sdk-lamp', properties: JSON.stringify({ categoryL1: 'plants|home', price: 42.5, title: 'SDK lamp' }) },
        { itemId: 'shoes-001', properties: JSON.stringify({ inStock: false }) },
      ],
    }),
  );
  t.match(server.catalog.get('sdk-lamp'), { itemId: 'sdk-lamp', category: 'plants', price: 42.5, title: 'SDK lamp' }, 'a new item, its fields mapped');
  t.equal(server.catalog.isInStock('shoes-001'), false, 'an update of one field');
  await events.send(new PutItemsCommand({ datasetArn: 'arn:aws:personalize:eu-west-1:123456789012:dataset/shop/ITEMS', items: [{ itemId: 'shoes-001', properties: JSON.stringify({ inStock: true }) }] }));

  await events.send(new PutUsersCommand({ datasetArn: 'arn:aws:personalize:eu-west-1:123456789012:dataset/shop/USERS', users: [{ userId: 'sdk-ann', properties: JSON.stringify({ membership: 'gold', age: 41 }) }] }));
  t.strictSame(await server.stores.users.get(server.pseudonyms.user('sdk-ann')), { membership: 'gold', age: '41', USER_ID: server.pseudonyms.user('sdk-ann') }, 'the profile, under the pseudonym');

  const token = String((await admin('POST', '/v1/tokens', { sessionId: 'sdk-s1', userId: 'sdk-ann' })).body.token);
  const socket = await connectClient(server.url, { token });
  t.teardown(() => socket.close());
  await socket.push();
  const before = socket.pushes.length;
  await events.send(
    new PutEventsCommand({
      trackingId: 'tracking-1',
      userId: 'sdk-ann',
      sessionId: 'sdk-s1',
      eventList: [
        { eventType: 'view', itemId: 'watches-001', sentAt: new Date(), properties: JSON.stringify({ page: 'home' }) },
        { eventType: 'view', itemId: 'watches-002', sentAt: new Date(Date.now() + 1), eventValue: 2 },
      ],
    }),
  );
  const pushed = await socket.push((p) => p.cause?.itemId === 'watches-002', before);
  t.ok(pushed.items.length > 0, 'the socket got the list the SDK events changed');
  const log = await server.stores.log.read(userKey(server.pseudonyms.user('sdk-ann')), null);
  t.match(
    log.filter((e) => e.kind === 'interaction').map((e) => (e.kind === 'interaction' ? { itemId: e.itemId, sessionId: e.sessionId, properties: e.properties, eventValue: e.eventValue } : null)),
    [{ itemId: 'watches-001', sessionId: 'sdk-s1', properties: { page: 'home' } }, { itemId: 'watches-002', eventValue: 2 }],
  );
  const interaction = log.find((e) => e.kind === 'interaction');
  t.ok(interaction !== undefined && interaction.kind === 'interaction' && Math.abs(interaction.sentAt - Date.now()) < 60_000, 'sentAt seconds became milliseconds');
});

t.test('PutEvents resent with the same eventId (a retry after a lost response) stores the event once', async (t) => {
  const { events } = await clients(['ingest']);
  const sentAt = new Date();
  const put = (eventList: Array<{ eventId: string; itemId: string }>) =>
    events.send(new PutEventsCommand({ trackingId: 't', userId: 'sdk-retry', sessionId: 'sdk-s9', eventList: eventList.map((e) => ({ ...e, eventType: 'view', sentAt })) }));
  await put([{ eventId: 'p-1', itemId: 'books-001' }]);
  await put([{ eventId: 'p-1', itemId: 'books-001' }, { eventId: 'p-2', itemId: 'books-002' }]);
  const log = await server.stores.log.read(userKey(server.pseudonyms.user('sdk-retry')), null);
  t.strictSame(log.map((e) => (e.kind === 'interaction' ? `${e.clientEventId} ${e.itemId}` : e.kind)), ['p-1 books-001', 'p-2 books-002']);
});

t.test('GetRecommendations and GetPersonalizedRanking through the runtime client', async (t) => {
  const { events, runtime } = await clients(['ingest', 'recommend']);
  await events.send(new PutEventsCommand({ trackingId: 't', userId: 'sdk-bo', sessionId: 'sdk-s2', eventList: ['books-001', 'books-002', 'books-003'].map((itemId, i) => ({ eventType: 'view', itemId, sentAt: new Date(Date.now() + i) })) }));
  await waitFor('the events folded in', async () => (await server.host.currentState(userKey(server.pseudonyms.user('sdk-bo')))).eventCount === 3);

  const personal = await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-bo' }));
  t.equal(personal.itemList?.length, 25, 'numResults defaults to 25');
  t.match(personal.recommendationId, /^[0-9a-f-]{36}$/);
  const books = (personal.itemList ?? []).slice(0, 10).filter((item) => categoryOf.get(item.itemId ?? '') === 'books').length;
  t.ok(books >= 5, `the user's category leads: ${books} books in the top 10`);
  t.ok((personal.itemList ?? []).every((item) => typeof item.score === 'number'), 'every item has a score');

  const viaRecommender = await runtime.send(new GetRecommendationsCommand({ recommenderArn: RECOMMENDER, userId: 'sdk-bo', numResults: 5 }));
  t.equal(viaRecommender.itemList?.length, 5);
  const related = await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, itemId: 'watches-005', numResults: 8 }));
  t.equal(related.itemList?.length, 8);
  t.notOk(related.itemList?.some((item) => item.itemId === 'watches-005'), 'related items never include the item');

  const inputList = ['coffee-001', 'books-004', 'plants-002', 'books-005'];
  const ranked = await runtime.send(new GetPersonalizedRankingCommand({ campaignArn: CAMPAIGN, userId: 'sdk-bo', inputList }));
  const order = (ranked.personalizedRanking ?? []).map((item) => item.itemId);
  t.strictSame([...order].sort(), [...inputList].sort(), 'the same items, reordered');
  t.strictSame(order.slice(0, 2).sort(), ['books-004', 'books-005'], 'the books first for a reader of books');
  t.match(ranked.recommendationId, /^[0-9a-f-]{36}$/);
});

t.test('filters in Personalize syntax, with parameters, and promotions', async (t) => {
  const { events, runtime } = await clients(['ingest', 'recommend']);
  const created = await admin('POST', '/v1/admin/filters', { name: 'no-cats', filterExpression: 'EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORIES)' });
  t.equal(created.status, 201);
  t.match(created.body, { filterArn: 'arn:aws:personalize:attune:000000000000:filter/no-cats', parameters: ['CATEGORIES'] });
  await admin('POST', '/v1/admin/filters', { name: 'only-books', filterExpression: 'INCLUDE ItemID WHERE Items.CATEGORY IN ("books")' });
  await admin('POST', '/v1/admin/filters', { name: 'not-bought', filterExpression: 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("add-to-cart")' });
  t.equal((await admin('POST', '/v1/admin/filters', { name: 'broken', filterExpression: 'EXCLUDE ItemID WHERE Items.COLOUR IN ("red")' })).status, 400, 'an unknown field is refused at creation');

  await events.send(new PutEventsCommand({ trackingId: 't', userId: 'sdk-cy', sessionId: 'sdk-s3', eventList: [{ eventType: 'view', itemId: 'watches-003', sentAt: new Date() }, { eventType: 'add-to-cart', itemId: 'watches-004', sentAt: new Date(Date.now() + 1) }] }));
  await waitFor('the events folded in', async () => (await server.host.currentState(userKey(server.pseudonyms.user('sdk-cy')))).eventCount === 2);

  const arn = (name: string) => `arn:aws:personalize:eu-west-1:123456789012:filter/${name}`;
  const excluded = await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', numResults: 30, filterArn: arn('no-cats'), filterValues: { CATEGORIES: '"watches","bags"' } }));
  t.equal(excluded.itemList?.length, 30);
  t.strictSame((excluded.itemList ?? []).filter((item) => ['watches', 'bags'].includes(categoryOf.get(item.itemId ?? '') ?? '')), [], 'no watches, no bags');
  const included = await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', numResults: 10, filterArn: arn('only-books') }));
  t.ok((included.itemList ?? []).length === 10 && (included.itemList ?? []).every((item) => categoryOf.get(item.itemId ?? '') === 'books'), 'only books');
  const notBought = await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', numResults: 100, filterArn: arn('not-bought') }));
  t.notOk(notBought.itemList?.some((item) => item.itemId === 'watches-004'), 'the item put in the cart is excluded by its interaction');
  const unfiltered = await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', numResults: 100 }));
  t.ok(unfiltered.itemList?.some((item) => item.itemId === 'watches-004'), 'and shown without the filter');

  const promoted = await runtime.send(
    new GetRecommendationsCommand({
      campaignArn: CAMPAIGN,
      userId: 'sdk-cy',
      numResults: 10,
      filterArn: arn('no-cats'),
      filterValues: { CATEGORIES: '"bags"' },
      promotions: [{ name: 'reading-week', percentPromotedItems: 30, filterArn: arn('only-books') }],
    }),
  );
  const promotedItems = (promoted.itemList ?? []).filter((item) => item.promotionName === 'reading-week');
  t.equal(promotedItems.length, 3, '30% of 10 slots');
  t.ok(promotedItems.every((item) => categoryOf.get(item.itemId ?? '') === 'books'), 'promoted items match the promotion filter');
  t.notOk(promoted.itemList?.some((item) => categoryOf.get(item.itemId ?? '') === 'bags'), 'the request filter still applies');

  const ranked = await runtime.send(new GetPersonalizedRankingCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', inputList: ['books-001', 'bags-001', 'watches-001'], filterArn: arn('no-cats'), filterValues: { CATEGORIES: '"bags"' } }));
  t.strictSame((ranked.personalizedRanking ?? []).map((item) => item.itemId).sort(), ['books-001', 'watches-001'], 'ranking applies the filter');

  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', filterArn: arn('missing') }))), { name: 'ResourceNotFoundException', status: 404, message: 'filter missing does not exist' });
  await admin('POST', '/v1/admin/filters', { name: 'one-cat', filterExpression: 'INCLUDE ItemID WHERE Items.CATEGORY IN ($CAT)' });
  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', filterArn: arn('one-cat') }))), { name: 'InvalidInputException', status: 400, message: /CAT/ }, 'an INCLUDE without its parameter');
  const excludeNothing = await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', numResults: 100, filterArn: arn('no-cats') }));
  t.strictSame(excludeNothing.itemList?.map((i) => i.itemId), unfiltered.itemList?.map((i) => i.itemId), 'an EXCLUDE without its parameter is not applied, as in Personalize');
  t.equal((await admin('DELETE', '/v1/admin/filters/no-cats')).status, 200);
  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-cy', filterArn: arn('no-cats'), filterValues: { CATEGORIES: '"bags"' } }))), { name: 'ResourceNotFoundException' });
});

t.test('impressions: items shown but not clicked sink', async (t) => {
  const { events, runtime } = await clients(['ingest', 'recommend']);
  const put = (eventList: Array<{ eventType: string; itemId: string; impression?: string[] }>) =>
    events.send(new PutEventsCommand({ trackingId: 't', userId: 'sdk-di', sessionId: 'sdk-s4', eventList: eventList.map((e, i) => ({ ...e, sentAt: new Date(Date.now() + i) })) }));
  await put([{ eventType: 'view', itemId: 'coffee-001' }, { eventType: 'view', itemId: 'coffee-002' }]);
  await waitFor('the events folded in', async () => (await server.host.currentState(userKey(server.pseudonyms.user('sdk-di')))).eventCount === 2);
  const list = async () => ((await runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'sdk-di', numResults: 50 }))).itemList ?? []).map((item) => item.itemId ?? '');
  const before = await list();
  const ignored = before.slice(0, 3);
  // Three lists showed the top three; each time the user clicked something else.
  for (const clicked of ['coffee-003', 'coffee-004', 'coffee-005']) await put([{ eventType: 'click', itemId: clicked, impression: [...ignored, clicked] }]);
  await waitFor('the events folded in', async () => (await server.host.currentState(userKey(server.pseudonyms.user('sdk-di')))).eventCount === 5);
  const after = await list();
  for (const itemId of ignored) {
    const rank = after.indexOf(itemId);
    t.ok(rank === -1 || rank > before.indexOf(itemId) + 2, `${itemId} sank: rank ${before.indexOf(itemId)} -> ${rank}`);
  }
});

t.test('authentication and errors the way Personalize returns them', async (t) => {
  const ingestOnly = await clients(['ingest']);
  t.match(await errorOf(ingestOnly.runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'x' }))), { name: 'AccessDeniedException', status: 403 }, 'a key without the role');
  const forged = new PersonalizeRuntimeClient({ endpoint: server.url, region: 'eu-west-1', maxAttempts: 1, credentials: { ...ingestOnly.credentials, secretAccessKey: 'x'.repeat(40) } });
  t.match(await errorOf(forged.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'x' }))), { name: 'InvalidSignatureException', status: 403 }, 'a wrong secret');
  const stranger = new PersonalizeRuntimeClient({ endpoint: server.url, region: 'eu-west-1', maxAttempts: 1, credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' } });
  t.match(await errorOf(stranger.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'x' }))), { name: 'UnrecognizedClientException', status: 403 }, 'an access key Attune never issued');

  const { runtime, events, id } = await clients(['ingest', 'recommend']);
  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ userId: 'x' }))), { name: 'InvalidInputException', status: 400, message: 'give exactly one of campaignArn or recommenderArn' });
  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ campaignArn: 'not-an-arn', userId: 'x' }))), { name: 'InvalidInputException', message: 'campaignArn is not a campaign or recommender ARN' });
  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN }))), { name: 'InvalidInputException', message: 'give a userId or an itemId' });
  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'x', numResults: 501 }))), { name: 'InvalidInputException', status: 400 });
  t.match(await errorOf(events.send(new PutEventsCommand({ trackingId: 't', sessionId: 's', eventList: [{ eventType: 'view', itemId: 'a', sentAt: new Date(), properties: '{not json' }] }))), { name: 'InvalidInputException', message: 'eventList[0].properties is not valid JSON' });
  const raw = await fetch(`${server.url}/recommendations`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ campaignArn: CAMPAIGN, userId: 'x', numResults: 0 }) });
  t.equal(raw.headers.get('x-amzn-errortype'), 'InvalidInputException', 'the error type header');
  t.match(await raw.json(), { __type: 'InvalidInputException', message: /numResults/ });

  t.equal((await admin('DELETE', `/v1/admin/keys/${id}`)).status, 200);
  t.match(await errorOf(runtime.send(new GetRecommendationsCommand({ campaignArn: CAMPAIGN, userId: 'x' }))), { name: 'UnrecognizedClientException', status: 403 }, 'a revoked key');
});

t.test('attune keys create prints the AWS credentials the SDK signs with', async (t) => {
  const created = await capture(() => runKeys(['create', '--name', 'sdk via cli', '--roles', 'recommend', '--server', server.url, '--api-key', MASTER]));
  t.equal(created.code, 0, created.stderr);
  const [, accessKeyId, secretAccessKey] = /aws_access_key_id=(ATK[0-9A-F]{12}) aws_secret_access_key=(\S{40})/.exec(created.stdout) ?? [];
  t.ok(accessKeyId !== undefined, created.stdout);
  const runtime = new PersonalizeRuntimeClient({ endpoint: server.url, region: 'ap-south-1', maxAttempts: 1, credentials: { accessKeyId, secretAccessKey } });
  const list = await runtime.send(new GetRecommendationsCommand({ recommenderArn: RECOMMENDER, userId: 'cli-user', numResults: 3 }));
  t.equal(list.itemList?.length, 3);
});

t.test('SigV4 opens the Personalize routes only; metadata may be large and null; item-less events are dropped; Actions are refused by name', async (t) => {
  const { credentials, events, runtime } = await clients(['admin']);
  const signer = new SignatureV4({ service: 'personalize', region: 'eu-west-1', credentials, sha256: Sha256 });
  const url = new URL(`${server.url}/v1/admin/keys`);
  const signed = await signer.sign({ method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, headers: { host: url.host } });
  const native = await fetch(url, { headers: signed.headers });
  t.equal(native.status, 401, 'an admin key\'s AWS credentials do not open the native API');
  t.match(await native.json(), { error: { code: 'ATTUNE_ERR_UNAUTHORIZED', message: /Personalize-compatible routes only/ } });

  await events.send(new PutItemsCommand({ datasetArn: 'arn:aws:personalize:eu-west-1:123456789012:dataset/shop/ITEMS', items: [{ itemId: 'sdk-big', properties: JSON.stringify({ description: 'd'.repeat(20_000), price: null, categoryL1: 'books' }) }] }));
  t.match(server.catalog.get('sdk-big'), { category: 'books' }, 'a 20 KB description and a null price are fine');
  await events.send(new PutUsersCommand({ datasetArn: 'arn:aws:personalize:eu-west-1:123456789012:dataset/shop/USERS', users: [{ userId: 'sdk-eve', properties: JSON.stringify({ bio: 'b'.repeat(5000), tier: null }) }] }));
  t.strictSame(Object.keys((await server.stores.users.get(server.pseudonyms.user('sdk-eve'))) ?? {}).sort(), ['USER_ID', 'bio']);

  await events.send(new PutEventsCommand({ trackingId: 't', userId: 'sdk-fay', sessionId: 'sdk-s6', eventList: [{ eventType: 'session_start', sentAt: new Date() }, { eventType: 'view', itemId: 'books-009', sentAt: new Date() }] }));
  t.strictSame((await server.stores.log.read(userKey(server.pseudonyms.user('sdk-fay')), null)).map((e) => (e.kind === 'interaction' ? e.itemId : e.kind)), ['books-009'], 'the event about no item is acknowledged, not kept');

  const unsupported = await fetch(`${server.url}/action-recommendations`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: '{}' });
  t.equal(unsupported.headers.get('x-amzn-errortype'), 'InvalidInputException');
  t.match(unsupported.headers.get('x-amzn-requestid'), /^[0-9a-f-]{36}$/, 'every answer carries a request id');

  await admin('POST', '/v1/admin/filters', { name: 'not-these', filterExpression: 'EXCLUDE ItemID WHERE Items.ITEM_ID IN ($IDS)' });
  const ranked = await runtime.send(new GetPersonalizedRankingCommand({ campaignArn: CAMPAIGN, userId: 'sdk-fay', inputList: ['ext-1', 'books-002', 'ext-2'], filterArn: 'arn:aws:personalize:eu-west-1:123456789012:filter/not-these', filterValues: { IDS: '"ext-1","books-002"' } }));
  t.strictSame(ranked.personalizedRanking?.map((i) => i.itemId), ['ext-2'], 'ITEM_ID filters apply to items the catalog does not know');
});
