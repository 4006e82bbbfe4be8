import { createHash } from 'node:crypto';
import t from 'tap';
import { ApiKeyAuthenticator, allows, extractPresentedKey, generateApiKey, hashSecret, isApiKeyId, parseApiKey, parseKeyName, parseRoles } from '../../src/security/api-keys.js';
import type { ApiKeyRecord, ApiKeyStore } from '../../src/store/types.js';

/** A Map-backed key store that counts lookups, so tests can see what the cache saved. */
class CountingKeyStore implements ApiKeyStore {
  readonly records = new Map<string, ApiKeyRecord>();
  lookups = 0;
  failing: Error | null = null;

  async create(record: ApiKeyRecord): Promise<void> {
    if (this.records.has(record.id)) throw new Error(`api key ${record.id} exists`);
    this.records.set(record.id, { ...record, roles: [...record.roles] });
  }

  async get(id: string): Promise<ApiKeyRecord | null> {
    this.lookups++;
    if (this.failing !== null) throw this.failing;
    const record = this.records.get(id);
    return record === undefined ? null : { ...record, roles: [...record.roles] };
  }

  async list(): Promise<ApiKeyRecord[]> {
    return [...this.records.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const record = this.records.get(id);
    if (record === undefined || record.revokedAt !== null) return false;
    record.revokedAt = at;
    return true;
  }
}

const MASTER = 'master-key-for-tests-0123456789abcdef';

function setup(options: { cacheMs?: number; masterKey?: string | null; cacheMax?: number } = {}): { store: CountingKeyStore; clock: { now: number }; auth: ApiKeyAuthenticator } {
  const store = new CountingKeyStore();
  const clock = { now: 1_000_000 };
  const auth = new ApiKeyAuthenticator({
    store,
    masterKey: options.masterKey === undefined ? MASTER : options.masterKey,
    cacheMs: options.cacheMs ?? 1000,
    now: () => clock.now,
    ...(options.cacheMax === undefined ? {} : { cacheMax: options.cacheMax }),
  });
  return { store, clock, auth };
}

async function storedKey(store: CountingKeyStore, roles: Parameters<typeof generateApiKey>[1] = ['ingest']): Promise<{ key: string; record: ApiKeyRecord }> {
  const generated = generateApiKey('test key', roles, 1);
  await store.create(generated.record);
  return generated;
}

t.test('generateApiKey: atk_<12 hex>_<43 base64url>, and a record holding the SHA-256 of the secret bytes', async (t) => {
  const { key, record } = generateApiKey('  checkout backend ', ['ingest', 'recommend'], 1234);
  const match = /^atk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(key);
  t.ok(match, key);
  const [, id, secret] = match ?? [];
  t.equal(Buffer.from(secret, 'base64url').length, 32);
  t.strictSame(record, {
    id,
    name: 'checkout backend',
    roles: ['ingest', 'recommend'],
    hash: createHash('sha256').update(Buffer.from(secret, 'base64url')).digest('hex'),
    createdAt: 1234,
    revokedAt: null,
  });
  t.equal(hashSecret(secret), record.hash);
  t.strictSame(parseApiKey(key), { id, secret });
  t.ok(isApiKeyId(id));
  t.not(generateApiKey('other', ['admin'], 1).key, key, 'every key is new');

  t.throws(() => generateApiKey('x', [], 1), RangeError);
  t.throws(() => generateApiKey('x', ['ingest', 'ingest'], 1), /role ingest is given twice/);
  t.throws(() => generateApiKey('   ', ['ingest'], 1), /needs a name/);
  t.throws(() => generateApiKey('a'.repeat(129), ['ingest'], 1), /at most 128 characters/);
  t.throws(() => generateApiKey('tab\there', ['ingest'], 1), /control characters/);
  t.equal(parseKeyName('a'.repeat(128)).length, 128);
});

t.test('parseApiKey is strict about every part', async (t) => {
  const { key } = generateApiKey('k', ['ingest'], 1);
  const id = key.slice(4, 16);
  const secret = key.slice(17);
  // 32 bytes leave the last of 43 characters 4 data bits and 2 zero bits: setting one of those names the same bytes.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const lastValue = alphabet.indexOf(secret.slice(-1));
  t.equal(lastValue % 4, 0);
  const nonCanonical = `${secret.slice(0, -1)}${alphabet[lastValue + 1]}`;
  t.same(Buffer.from(nonCanonical, 'base64url'), Buffer.from(secret, 'base64url'));
  for (const bad of [
    '',
    'atk_',
    `ATK_${id}_${secret}`,
    `atk-${id}_${secret}`,
    `atk_${id}-${secret}`,
    `atk_ABCDEF012345_${secret}`,
    `atk_${id.slice(1)}_${secret}`,
    `atk_${id}0_${secret}`,
    `atk_${id.slice(0, 11)}g_${secret}`,
    `atk_${id}_${secret.slice(1)}`,
    `atk_${id}_${secret}A`,
    `atk_${id}_${secret}=`,
    `atk_${id}_${secret.slice(0, -1)}+`,
    `atk_${id}_${nonCanonical}`,
    ` ${key}`,
    `${key} `,
    `${key}\n`,
    `Bearer ${key}`,
  ]) {
    t.equal(parseApiKey(bad), null, JSON.stringify(bad));
  }
  t.notOk(isApiKeyId('ABCDEF012345'));
  t.notOk(isApiKeyId(`${id}0`));
});

t.test('parseRoles: comma separated known roles, none twice, at least one', async (t) => {
  t.strictSame(parseRoles('ingest,recommend'), ['ingest', 'recommend']);
  t.strictSame(parseRoles(' admin '), ['admin']);
  t.strictSame(parseRoles('recommend, ingest'), ['recommend', 'ingest']);
  t.throws(() => parseRoles(''), /at least one of ingest, recommend, privacy, admin/);
  t.throws(() => parseRoles('ingest,,recommend'), /empty entry/);
  t.throws(() => parseRoles('ingest,'), /empty entry/);
  t.throws(() => parseRoles('ingest,ingest'), /role ingest is given twice/);
  t.throws(() => parseRoles('root'), /unknown role "root": roles are ingest, recommend, privacy, admin/);
  t.throws(() => parseRoles('Ingest'), /unknown role "Ingest"/);
});

t.test('allows: a role allows itself; admin allows every role', async (t) => {
  t.ok(allows(['ingest'], 'ingest'));
  t.notOk(allows(['ingest'], 'recommend'));
  t.notOk(allows(['ingest', 'recommend'], 'admin'));
  t.ok(allows(['admin'], 'ingest'));
  t.ok(allows(['admin'], 'recommend'));
  t.ok(allows(['admin'], 'admin'));
  t.notOk(allows([], 'ingest'));
});

t.test('extractPresentedKey: Authorization Bearer or X-Api-Key', async (t) => {
  t.equal(extractPresentedKey({ authorization: 'Bearer atk_x' }), 'atk_x');
  t.equal(extractPresentedKey({ authorization: 'bearer  atk_x ' }), 'atk_x');
  t.equal(extractPresentedKey({ 'x-api-key': 'atk_y' }), 'atk_y');
  t.equal(extractPresentedKey({ authorization: 'Bearer atk_x', 'x-api-key': 'atk_y' }), 'atk_x', 'Authorization wins');
  t.equal(extractPresentedKey({ authorization: 'Basic dXNlcjpwYXNz' }), 'Basic dXNlcjpwYXNz', 'another scheme is presented whole, to fail as malformed');
  t.equal(extractPresentedKey({ 'x-api-key': ['a', 'b'] }), 'a,b');
  t.equal(extractPresentedKey({}), undefined);
  t.equal(extractPresentedKey({ authorization: '', 'x-api-key': '' }), undefined);
});

t.test('authenticate: missing, malformed, unknown, revoked, ok', async (t) => {
  const { store, auth } = setup();
  const ingest = await storedKey(store, ['ingest', 'recommend']);
  const revoked = await storedKey(store);
  await store.revoke(revoked.record.id, 5);

  t.strictSame(await auth.authenticate(undefined), { ok: false, reason: 'missing' });
  t.strictSame(await auth.authenticate(''), { ok: false, reason: 'missing' });
  t.strictSame(await auth.authenticate('not-a-key'), { ok: false, reason: 'malformed' });
  t.strictSame(await auth.authenticate(`${ingest.key}x`), { ok: false, reason: 'malformed' });
  t.strictSame(await auth.authenticate(generateApiKey('never stored', ['admin'], 1).key), { ok: false, reason: 'unknown' });
  t.strictSame(await auth.authenticate(revoked.key), { ok: false, reason: 'revoked' });
  t.strictSame(await auth.authenticate(ingest.key), { ok: true, principal: { keyId: ingest.record.id, roles: ['ingest', 'recommend'] } });

  // The right id with another key's secret: indistinguishable from an unknown key, revoked or not.
  const otherSecret = generateApiKey('other', ['ingest'], 1).key.slice(17);
  t.strictSame(await auth.authenticate(`atk_${ingest.record.id}_${otherSecret}`), { ok: false, reason: 'unknown' });
  t.strictSame(await auth.authenticate(`atk_${revoked.record.id}_${otherSecret}`), { ok: false, reason: 'unknown' });
});

t.test('authenticate: the master key has every role and is never looked up', async (t) => {
  const { store, auth } = setup();
  t.strictSame(await auth.authenticate(MASTER), { ok: true, principal: { keyId: 'master', roles: ['ingest', 'recommend', 'privacy', 'admin'] } });
  t.strictSame(await auth.authenticate(`${MASTER}x`), { ok: false, reason: 'malformed' });
  t.strictSame(await auth.authenticate(MASTER.slice(0, -1)), { ok: false, reason: 'malformed' });
  t.equal(store.lookups, 0);

  const { auth: withoutMaster } = setup({ masterKey: null });
  t.strictSame(await withoutMaster.authenticate(MASTER), { ok: false, reason: 'malformed' });
  t.strictSame(await withoutMaster.authenticate('master'), { ok: false, reason: 'malformed' });
});

t.test('the cache: a revocation in the store is seen after cacheMs, or at once after forget()', async (t) => {
  const { store, clock, auth } = setup({ cacheMs: 1000 });
  const { key, record } = await storedKey(store);
  const start = clock.now;

  t.equal((await auth.authenticate(key)).ok, true);
  t.equal(store.lookups, 1);
  await store.revoke(record.id, start + 10);
  clock.now = start + 999;
  t.equal((await auth.authenticate(key)).ok, true, 'trusted from the cache until cacheMs has passed');
  t.equal(store.lookups, 1);
  clock.now = start + 1000;
  t.strictSame(await auth.authenticate(key), { ok: false, reason: 'revoked' });
  t.equal(store.lookups, 2);

  const second = await storedKey(store);
  t.equal((await auth.authenticate(second.key)).ok, true);
  await store.revoke(second.record.id, clock.now);
  t.equal((await auth.authenticate(second.key)).ok, true, 'still cached');
  auth.forget(second.record.id);
  t.strictSame(await auth.authenticate(second.key), { ok: false, reason: 'revoked' }, 'forget() drops it at once');
});

t.test('the cache: unknown ids are remembered too, and cannot push known keys out', async (t) => {
  const { store, clock, auth } = setup({ cacheMs: 1000, cacheMax: 2 });
  const known = await storedKey(store);
  t.equal((await auth.authenticate(known.key)).ok, true);
  t.equal(store.lookups, 1);

  const guess = generateApiKey('guess', ['ingest'], 1);
  t.equal((await auth.authenticate(guess.key)).ok, false);
  t.equal((await auth.authenticate(guess.key)).ok, false);
  t.equal(store.lookups, 2, 'a repeated unknown id is answered from the cache');

  for (let i = 0; i < 5; i++) await auth.authenticate(generateApiKey('flood', ['ingest'], 1).key);
  t.equal(store.lookups, 7);
  t.equal((await auth.authenticate(known.key)).ok, true);
  t.equal(store.lookups, 7, 'a flood of unknown ids did not evict the known key');

  // An id created after it was found unknown is accepted once the unknown answer expires.
  await store.create(guess.record);
  clock.now += 1000;
  t.equal((await auth.authenticate(guess.key)).ok, true);
});

t.test('the cache: concurrent lookups of one id ask the store once; cacheMs 0 always asks', async (t) => {
  const { store, auth } = setup();
  const { key } = await storedKey(store);
  const outcomes = await Promise.all(Array.from({ length: 5 }, () => auth.authenticate(key)));
  t.ok(outcomes.every((outcome) => outcome.ok));
  t.equal(store.lookups, 1);

  const uncached = setup({ cacheMs: 0 });
  const stored = await storedKey(uncached.store);
  await uncached.auth.authenticate(stored.key);
  await uncached.auth.authenticate(stored.key);
  t.equal(uncached.store.lookups, 2);
});

t.test('a store that cannot answer makes authenticate reject, not answer unknown', async (t) => {
  const { store, auth } = setup();
  const { key } = await storedKey(store);
  store.failing = new Error('store down');
  await t.rejects(auth.authenticate(key), /store down/);
  store.failing = null;
  t.equal((await auth.authenticate(key)).ok, true, 'the failure was not cached');
});

t.test('constructor refuses a negative cacheMs', async (t) => {
  t.throws(() => new ApiKeyAuthenticator({ store: new CountingKeyStore(), masterKey: null, cacheMs: -1 }), RangeError);
});
