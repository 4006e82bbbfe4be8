import t from 'tap';
import { demoCatalog } from '../../src/demo/catalog.js';
import type { RunningServer } from '../../src/server/start.js';
import { authHeaders, startLocalServer, testSecurity } from '../helpers.js';

const categoryOf = new Map(demoCatalog().map((i) => [i.itemId, i.category]));
let server: RunningServer;

t.before(async () => {
  server = await startLocalServer({ segments: { count: 2, refreshMs: 0 }, security: testSecurity });
});
t.teardown(() => server.close());

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path, {
    method,
    headers: body === undefined ? authHeaders : { ...authHeaders, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const ids = (body: Record<string, unknown>, field = 'items') => (body[field] as Array<{ itemId: string }>).map((i) => i.itemId);
const views = (sessionId: string, items: string[], userId?: string, sentAt?: number) =>
  call('POST', '/v1/events', { sessionId, ...(userId ? { userId } : {}), eventList: items.map((itemId) => ({ eventType: 'view', itemId, ...(sentAt ? { sentAt } : {}) })) });

t.test('related items: neighbours of the item, never the item itself', async (t) => {
  const res = await call('GET', '/v1/items/watches-003/related?numResults=5');
  t.equal(res.status, 200);
  t.equal(ids(res.body).length, 5);
  t.notOk(ids(res.body).includes('watches-003'));
  t.ok(ids(res.body).every((id) => categoryOf.get(id) === 'watches'));
  const books = await call('GET', '/v1/items/watches-003/related?numResults=5&category=books');
  t.ok(ids(books.body).every((id) => categoryOf.get(id) === 'books'), 'filters apply to related items too');
  t.strictSame((await call('GET', '/v1/items/nope/related')).body, { error: { code: 'ATTUNE_ERR_NOT_FOUND', message: 'item nope is neither in the catalog nor in the model' } });
});

t.test('personalized ranking orders the given list for the session, unknown items last', async (t) => {
  await views('ranker', ['bags-003', 'bags-004']);
  const res = await call('POST', '/v1/personalize-ranking', { sessionId: 'ranker', inputList: ['books-002', 'brand-new', 'bags-005', 'plants-009', 'bags-002'] });
  t.equal(res.status, 200);
  const ranking = ids(res.body, 'personalizedRanking');
  t.strictSame(ranking.slice(0, 2).sort(), ['bags-002', 'bags-005']);
  t.equal(ranking.at(-1), 'brand-new');
  t.equal(ranking.length, 5);
  const limited = await call('POST', '/v1/personalize-ranking', { sessionId: 'ranker', inputList: ['books-002', 'bags-005'], numResults: 1, filter: { excludeCategory: 'bags' } });
  t.strictSame(ids(limited.body, 'personalizedRanking'), ['books-002']);
  const tooMany = await call('POST', '/v1/personalize-ranking', { sessionId: 'x', inputList: Array.from({ length: 501 }, (_, i) => `i${i}`) });
  t.strictSame(tooMany, { status: 400, body: { error: { code: 'ATTUNE_ERR_VALIDATION', message: 'body.inputList must NOT have more than 500 items' } } });
});

t.test('recommendation filters from the query string', async (t) => {
  await views('filtered', ['coffee-001', 'coffee-002']);
  const books = await call('GET', '/v1/recommendations?sessionId=filtered&numResults=8&category=books,plants');
  t.ok(ids(books.body).every((id) => ['books', 'plants'].includes(categoryOf.get(id) ?? '')));
  const unseen = await call('GET', '/v1/recommendations?sessionId=filtered&numResults=50&excludeSeen=true');
  t.notOk(ids(unseen.body).some((id) => id === 'coffee-001' || id === 'coffee-002'));
  const promoted = await call('GET', '/v1/recommendations?sessionId=filtered&numResults=10&promotionName=plants-sale&promotionCategory=plants&promotionShare=0.3');
  const promotedItems = (promoted.body.items as Array<{ itemId: string; promotionName?: string }>).filter((i) => i.promotionName === 'plants-sale');
  t.equal(promotedItems.length, 3);
  t.ok(promotedItems.every((i) => categoryOf.get(i.itemId) === 'plants'));
  t.strictSame(await call('GET', '/v1/recommendations?sessionId=filtered&promotionName=x'), {
    status: 400,
    body: { error: { code: 'ATTUNE_ERR_VALIDATION', message: 'a promotion needs promotionName, promotionCategory and promotionShare together' } },
  });
});

t.test('popular and trending follow live events with their own half-lives', async (t) => {
  const now = Date.now();
  for (let i = 0; i < 4; i++) await views(`old-${i}`, ['jackets-030', 'jackets-030', 'jackets-030'], undefined, now - 6 * 3600_000);
  for (let i = 0; i < 2; i++) await views(`new-${i}`, ['headphones-040', 'headphones-040'], undefined, now);
  const popular = await call('GET', '/v1/popular?numResults=2');
  const trending = await call('GET', '/v1/trending?numResults=2');
  t.equal(ids(popular.body)[0], 'jackets-030', '12 views six hours ago still lead over a week-long half-life');
  t.equal(ids(trending.body)[0], 'headphones-040', '4 views now lead over an hour-long half-life');
  t.equal(popular.body.halfLifeMs, 7 * 24 * 3600_000);
  const plants = await call('GET', '/v1/trending?numResults=3&category=plants');
  t.ok(ids(plants.body).every((id) => categoryOf.get(id) === 'plants'));
});

t.test('segments cluster users by what they browse', async (t) => {
  for (let u = 0; u < 4; u++) await views(`seg-s${u}`, ['shoes-001', 'shoes-002', 'shoes-003'], `shoe-fan-${u}`);
  for (let u = 0; u < 3; u++) await views(`seg-b${u}`, ['books-001', 'books-004'], `reader-${u}`);
  const res = await call('GET', '/v1/segments');
  t.equal(res.status, 200);
  t.equal(res.body.users, 7);
  const segments = res.body.segments as Array<{ segmentId: number; size: number; top: Array<[string, number]> }>;
  t.strictSame(segments.map((s) => [s.top[0][0], s.size]).sort(), [['books', 3], ['shoes', 4]]);
  const mine = await call('GET', '/v1/users/shoe-fan-2/segment');
  t.equal(mine.body.segmentId, segments.find((s) => s.top[0][0] === 'shoes')?.segmentId);
  t.strictSame(await call('GET', '/v1/users/ghost/segment'), { status: 404, body: { error: { code: 'ATTUNE_ERR_NOT_FOUND', message: 'user ghost has no history' } } });
});
