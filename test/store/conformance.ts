import type { Test } from 'tap';
import type { ApiKeyRecord, AuditEntry, BusMessage, DeletionJob, StoredFilter, Stores } from '../../src/store/types.js';
import { compareEventIds } from '../../src/store/types.js';
import { zeroCounts, type OnlineCounts } from '../../src/store/online-metrics.js';
import { initialState } from '../../src/session/state.js';
import { interaction, merge, waitFor } from '../helpers.js';

export interface ConformanceOptions {
  /**
   * Another Stores object over the same data as `stores` (another node of the deployment), or
   * `stores` itself where a backend has no such thing (memory: nodes of one process share it).
   */
  peer?: (stores: Stores) => Promise<Stores>;
}

/** The mailbox's memory for recent notes, where a test does not time it: long enough never to lapse. */
const WINDOW_MS = 60_000;

/**
 * The behaviour every store implementation owes the rest of Attune. Each implementation's test
 * file runs this suite against its own factory.
 */
export function storeConformance(t: Test, name: string, createStores: () => Promise<Stores>, options: ConformanceOptions = {}): void {
  const withStores = (title: string, body: (t: Test, stores: Stores) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const stores = await createStores();
      t.teardown(() => stores.close());
      await body(t, stores);
    });
  };

  withStores('event log: appendOnce stores a client event id once per key within the window, across nodes, even when resends race', async (t, stores) => {
    const { log } = stores;
    const { eventId: _, ...base } = interaction('x', 'view', 'A', 5);
    const first = await log.appendOnce('s:once', { ...base, clientEventId: 'c-1' }, 'c-1', WINDOW_MS);
    t.same(first.duplicate, false);
    const resent = await log.appendOnce('s:once', { ...base, itemId: 'B', clientEventId: 'c-1' }, 'c-1', WINDOW_MS);
    t.strictSame(resent, { eventId: first.eventId, duplicate: true, follows: false }, 'a resend gets the first id and writes nothing');
    const peer = options.peer ? await options.peer(stores) : stores;
    if (peer !== stores) t.teardown(() => peer.close());
    t.strictSame(await peer.log.appendOnce('s:once', base, 'c-1', WINDOW_MS), { eventId: first.eventId, duplicate: true, follows: false }, 'another node sees it too');
    const racing = await Promise.all([1, 2, 3].map(() => log.appendOnce('s:once', base, 'c-2', WINDOW_MS)));
    t.same(racing.filter((r) => !r.duplicate).length, 1, 'three concurrent resends store one entry');
    t.same(new Set(racing.map((r) => r.eventId)).size, 1);
    const other = await log.appendOnce('s:other', base, 'c-1', WINDOW_MS);
    t.same(other.duplicate, false, 'ids are per key');
    // Ids that only differ in where the key ends and the client id begins stay apart.
    const a = await log.appendOnce('s:a:b', base, 'c', WINDOW_MS);
    const b = await log.appendOnce('s:a', base, 'b:c', WINDOW_MS);
    t.same([a.duplicate, b.duplicate], [false, false]);
    const stored = await log.read('s:once', null);
    t.same(stored.map((e) => [e.eventId, e.kind === 'interaction' ? e.itemId : null]), [[first.eventId, 'A'], [racing[0].eventId, 'A']]);
    t.same(stored[0].kind === 'interaction' ? stored[0].clientEventId : null, 'c-1');
    // A duplicate leaves no trace in the log: the next append directly follows the last stored entry.
    const afterResends = await log.appendOnce('s:once', base, 'c-3', WINDOW_MS, racing[0].eventId);
    t.strictSame([afterResends.duplicate, afterResends.follows], [false, true]);
    // Past the window the id is new again: each try either finds it remembered or stores it.
    const brief = await log.appendOnce('s:brief', base, 'c-9', 1);
    let again = brief;
    await waitFor('the short window to lapse', async () => {
      again = await log.appendOnce('s:brief', base, 'c-9', 1);
      return !again.duplicate;
    });
    t.not(again.eventId, brief.eventId);
    t.same((await log.read('s:brief', null)).length, 2);
    await log.delete('s:brief');
    t.same((await log.appendOnce('s:brief', base, 'c-10', WINDOW_MS)).duplicate, false);
    // A resend after the log was deleted (an erasure): stored anew or refused as a duplicate, the key is listed exactly when it holds entries.
    await log.delete('s:once');
    const late = await log.appendOnce('s:once', base, 'c-1', WINDOW_MS);
    t.strictSame(await log.keys('s:once'), late.duplicate ? [] : ['s:once']);
    t.same((await log.read('s:once', null)).length, late.duplicate ? 0 : 1);
  });

  withStores('event log: an append says whether it directly follows the entry its writer last saw, across nodes', async (t, stores) => {
    const { log } = stores;
    const peer = options.peer ? await options.peer(stores) : stores;
    if (peer !== stores) t.teardown(() => peer.close());
    const { eventId: _, ...base } = interaction('x', 'view', 'A', 5);
    const first = await log.appendAfter('s:after', base, null);
    t.equal(first.follows, true, 'the first entry of an empty log follows null');
    const second = await log.appendAfter('s:after', { ...base, itemId: 'B' }, first.entry.eventId);
    t.equal(second.follows, true, 'the next entry follows the one its writer saw last');
    const foreign = await peer.log.append('s:after', { ...base, itemId: 'C' });
    const third = await log.appendAfter('s:after', { ...base, itemId: 'D' }, second.entry.eventId);
    t.equal(third.follows, false, `another node's entry (${foreign.eventId}) lies between: the writer must read it back`);
    t.equal((await log.appendAfter('s:after', { ...base, itemId: 'E' }, null)).follows, false, 'null only follows an empty log');
    t.strictSame((await log.read('s:after', null)).map((e) => e.kind === 'interaction' && e.itemId), ['A', 'B', 'C', 'D', 'E']);
    t.strictSame(await log.keys('s:after'), ['s:after'], 'the key is listed once');

    const once = await log.appendOnce('s:once-after', base, 'c-1', WINDOW_MS, null);
    t.strictSame([once.duplicate, once.follows], [false, true]);
    const next = await log.appendOnce('s:once-after', base, 'c-2', WINDOW_MS, once.eventId);
    t.strictSame([next.duplicate, next.follows], [false, true]);
    t.equal((await log.appendOnce('s:once-after', base, 'c-3', WINDOW_MS, once.eventId)).follows, false, 'an entry in between');
    t.equal((await log.appendOnce('s:once-after', base, 'c-4', WINDOW_MS)).follows, false, 'no previous id given');
    t.strictSame(await log.appendOnce('s:once-after', base, 'c-2', WINDOW_MS, next.eventId), { eventId: next.eventId, duplicate: true, follows: false });

    // A log trimmed empty no longer knows its last entry: nothing follows a non-null id there.
    const last = (await log.read('s:after', null)).at(-1);
    if (last === undefined) throw new Error('no entries');
    await log.trim('s:after', last.eventId, 0);
    t.strictSame(await log.read('s:after', null), []);
    t.equal((await log.appendAfter('s:after', base, last.eventId)).follows, false, 'read back instead');
    t.strictSame(await log.keys('s:after'), ['s:after'], 'still listed after a trim');
    await log.delete('s:after');
    t.strictSame(await log.keys('s:after'), []);
    t.equal((await log.appendAfter('s:after', base, null)).follows, true, 'a deleted log starts empty again');
    t.strictSame(await log.keys('s:after'), ['s:after'], 'and is listed again');
  });

  withStores('peer directory: nodes find each other\'s URLs, and every node gets the same secret', async (t, stores) => {
    const peer = options.peer ? await options.peer(stores) : stores;
    if (peer !== stores) t.teardown(() => peer.close());
    t.equal(await stores.peers.urlOf('node-a'), null);
    await stores.peers.announce('node-a', 'http://127.0.0.1:4001');
    await stores.peers.announce('node-b', 'http://127.0.0.1:4002');
    t.equal(await peer.peers.urlOf('node-a'), 'http://127.0.0.1:4001', 'another node reads it');
    await peer.peers.announce('node-a', 'http://127.0.0.1:4003');
    t.equal(await stores.peers.urlOf('node-a'), 'http://127.0.0.1:4003', 'a new announcement replaces the old');
    await stores.peers.withdraw('node-a');
    t.strictSame([await peer.peers.urlOf('node-a'), await peer.peers.urlOf('node-b')], [null, 'http://127.0.0.1:4002']);
    const [mine, theirs, again] = await Promise.all([stores.peers.secret(), peer.peers.secret(), stores.peers.secret()]);
    t.match(mine, /^[A-Za-z0-9_-]{43}$/, '32 random bytes');
    t.strictSame([theirs, again], [mine, mine], 'the first secret made is everyone\'s');
  });

  withStores('event log: ids grow within a key, reads are ordered and start after an id', async (t, { log }) => {
    const { eventId: _, ...base } = interaction('x', 'view', 'A', 5);
    const ids: string[] = [];
    for (const itemId of ['A', 'B', 'C', 'D']) ids.push((await log.append('s:one', { ...base, itemId })).eventId);
    await log.append('s:two', { ...base, itemId: 'Z' });
    for (let i = 1; i < ids.length; i++) t.ok(compareEventIds(ids[i - 1], ids[i]) < 0, `${ids[i - 1]} < ${ids[i]}`);
    t.strictSame((await log.read('s:one', null)).map((e) => e.kind === 'interaction' && e.itemId), ['A', 'B', 'C', 'D']);
    t.strictSame((await log.read('s:one', ids[1])).map((e) => e.eventId), ids.slice(2));
    t.strictSame(await log.read('s:one', ids[3]), []);
    t.strictSame(await log.read('s:none', null), []);
    const [first] = await log.read('s:one', null);
    t.strictSame(first, { ...base, itemId: 'A', eventId: ids[0] }, 'an entry reads back exactly as appended');
    t.strictSame((await log.keys('s:')).sort(), ['s:one', 's:two']);
    t.strictSame(await log.keys('s:t'), ['s:two']);
    t.strictSame(await log.keys('u:'), []);

    // Trimming keeps everything after the snapshot point and the newest `keep` before it.
    t.equal(await log.trim('s:one', ids[2], 1), 2);
    t.strictSame((await log.read('s:one', null)).map((e) => e.eventId), [ids[2], ids[3]]);
    t.equal(await log.trim('s:one', ids[2], 1), 0, 'trimming again drops nothing');
    t.equal(await log.trim('s:none', ids[2], 0), 0);
  });

  withStores('snapshots: a later snapshot replaces, an earlier one is refused', async (t, { snapshots }) => {
    t.equal(await snapshots.get('u:1'), null);
    t.equal(await snapshots.put({ key: 'u:1', lastEventId: '10-0', bytes: new Uint8Array([1]) }), true);
    t.equal(await snapshots.put({ key: 'u:1', lastEventId: '9-5', bytes: new Uint8Array([2]) }), false);
    t.strictSame(Array.from((await snapshots.get('u:1'))?.bytes ?? []), [1]);
    t.equal(await snapshots.put({ key: 'u:1', lastEventId: '10-1', bytes: new Uint8Array([3]) }), true);
    t.strictSame(Array.from((await snapshots.get('u:1'))?.bytes ?? []), [3]);
    await snapshots.delete('u:1');
    t.equal(await snapshots.get('u:1'), null);
  });

  withStores('event log: every entry shape reads back exactly; ids keep growing after a full trim', async (t, { log }) => {
    const { eventId: _, ...base } = interaction('x', 'purchase', 'P', 7, 'shoes');
    const detailed = { ...base, userId: 'ann', eventValue: 12.99, properties: { nested: { list: [1, 'two', null, true], empty: {} }, text: 'é 日本 😀' } };
    const { eventId: __, ...mergeBase } = merge('x', { ...initialState(), eventCount: 2, lastEventId: '5-1', recent: [['i1', 3]], itemSums: [['i1', 0.5]] });
    const first = await log.append('u:a*b', detailed);
    const second = await log.append('u:a*b', mergeBase);
    t.strictSame(await log.read('u:a*b', null), [{ ...detailed, eventId: first.eventId }, { ...mergeBase, eventId: second.eventId }]);
    t.strictSame([first, second], await log.read('u:a*b', null), 'append returns what read returns');

    await log.append('u:aXb', base);
    t.strictSame(await log.keys('u:a*'), ['u:a*b'], 'a prefix matches literally, not as a pattern');
    t.strictSame((await log.keys('')).sort(), ['u:a*b', 'u:aXb']);

    t.equal(await log.trim('u:a*b', first.eventId, 0), 1, 'keep 0 drops exactly the covered entries');
    t.strictSame((await log.read('u:a*b', null)).map((e) => e.eventId), [second.eventId]);
    t.equal(await log.trim('u:a*b', second.eventId, 0), 1);
    t.strictSame(await log.read('u:a*b', null), []);
    const third = await log.append('u:a*b', base);
    t.ok(compareEventIds(second.eventId, third.eventId) < 0, 'an emptied log does not reuse ids');
    t.equal(await log.trim('u:a*b', second.eventId, 0), 0, 'nothing left at or before the trimmed point');
  });

  withStores('snapshots: no event id yet, empty bytes, plain Uint8Array back', async (t, { snapshots }) => {
    const fresh = { key: 's:new', lastEventId: null, bytes: new Uint8Array([]) };
    t.equal(await snapshots.put(fresh), true);
    t.strictSame(await snapshots.get('s:new'), fresh);
    t.equal(await snapshots.put({ ...fresh, bytes: new Uint8Array([1]) }), true, 'an equal id replaces');
    t.equal(await snapshots.put({ key: 's:new', lastEventId: '1-0', bytes: new Uint8Array([0, 255]) }), true);
    t.equal(await snapshots.put(fresh), false, 'no id is earlier than any id');
    const stored = await snapshots.get('s:new');
    t.equal(stored && Object.getPrototypeOf(stored.bytes), Uint8Array.prototype);
    t.strictSame(stored, { key: 's:new', lastEventId: '1-0', bytes: new Uint8Array([0, 255]) });
    t.equal(await snapshots.put({ key: 's:new', lastEventId: '1-10', bytes: new Uint8Array([2]) }), true);
    t.equal(await snapshots.put({ key: 's:new', lastEventId: '1-9', bytes: new Uint8Array([3]) }), false, 'ids compare as numbers');
    t.equal(await snapshots.put({ key: 's:new', lastEventId: '10000000000000-0', bytes: new Uint8Array([4]) }), true);
    t.equal(await snapshots.put({ key: 's:new', lastEventId: '9999999999999-99', bytes: new Uint8Array([5]) }), false);
  });

  withStores('catalog: upserts merge into stored items, new items get defaults', async (t, { catalog }) => {
    await catalog.upsert([{ itemId: 'a', title: 'A', category: 'c1', price: 10, inStock: true }]);
    const [updated, created] = await catalog.upsert([{ itemId: 'a', inStock: false }, { itemId: 'b' }]);
    t.strictSame(updated, { itemId: 'a', title: 'A', category: 'c1', price: 10, inStock: false });
    t.strictSame(created, { itemId: 'b', title: 'b', category: 'uncategorized', price: 0, inStock: true });
    t.strictSame((await catalog.list()).map((i) => i.itemId).sort(), ['a', 'b']);
    const [twice] = await catalog.upsert([{ itemId: 'c', price: 12.99 }, { itemId: 'c', title: 'C' }]).then((items) => items.slice(1));
    t.strictSame(twice, { itemId: 'c', title: 'C', category: 'uncategorized', price: 12.99, inStock: true }, 'updates of one item in a batch apply in order');
    t.strictSame(await catalog.upsert([]), []);
    t.strictSame(await catalog.get(['c', 'nope', 'a']), [twice, updated], 'get: stored items in the order asked, unknown ids left out');
    t.strictSame(await catalog.get([]), []);
  });

  withStores('catalog: the version grows with every write', async (t, { catalog }) => {
    const start = await catalog.version();
    await catalog.upsert([{ itemId: 'a' }]);
    const afterOne = await catalog.version();
    t.ok(afterOne > start, `${afterOne} > ${start}`);
    await catalog.upsert([{ itemId: 'a', inStock: false }, { itemId: 'b' }]);
    t.ok((await catalog.version()) > afterOne);
    const unchanged = await catalog.version();
    await catalog.list();
    await catalog.get(['a']);
    t.equal(await catalog.version(), unchanged, 'reads do not change it');
    t.strictSame(await catalog.changesSince(unchanged), { version: unchanged, itemIds: [] }, 'nothing since the current version');
    t.strictSame(await catalog.changesSince(afterOne), { version: unchanged, itemIds: ['a', 'b'] }, 'the ids written since, once each');
    t.strictSame(await catalog.changesSince(start), { version: unchanged, itemIds: ['a', 'b'] });
    await catalog.upsert([{ itemId: 'c' }]);
    t.strictSame(await catalog.changesSince(unchanged), { version: unchanged + 1, itemIds: ['c'] });
    t.equal(await catalog.changesSince(unchanged + 5), null, 'a version from the future: re-read everything');
  });

  withStores('mailbox: notes reach the shard\'s subscriber until it unsubscribes', async (t, { mailbox }) => {
    const got: string[] = [];
    let arrived: () => void = () => {};
    const unsubscribe = await mailbox.subscribe(3, WINDOW_MS, (key) => {
      got.push(key);
      arrived();
    });
    const next = () => new Promise<void>((resolve) => (arrived = resolve));
    let waiting = next();
    await mailbox.notify(3, 'u:alice', WINDOW_MS);
    await waiting;
    waiting = next();
    await mailbox.notify(4, 'u:other-shard', WINDOW_MS);
    await mailbox.notify(3, 's:tab', WINDOW_MS);
    await waiting;
    t.strictSame(got, ['u:alice', 's:tab'], 'only its own shard, in order');
    await unsubscribe();
    await mailbox.notify(3, 'u:late', WINDOW_MS);
    await new Promise((r) => setTimeout(r, 50));
    t.strictSame(got, ['u:alice', 's:tab']);
  });

  withStores('mailbox: notes sent while the shard has no subscriber reach the next one, once per key, however old', async (t, { mailbox }) => {
    // Remembered for 1 ms only: what reaches the subscriber is the kept notes.
    await mailbox.notify(5, 'u:quiet', 1);
    await mailbox.notify(5, 's:tab', 1);
    await mailbox.notify(5, 'u:quiet', 1);
    await mailbox.notify(6, 'u:elsewhere', 1);
    await new Promise((r) => setTimeout(r, 10));
    const got: string[] = [];
    const unsubscribe = await mailbox.subscribe(5, 1, (key) => got.push(key));
    await waitFor('the kept notes', () => got.length >= 2);
    await mailbox.notify(5, 'u:live', 1);
    await waitFor('the live note', () => got.includes('u:live'));
    t.strictSame(got.slice(0, 2).sort(), ['s:tab', 'u:quiet'], 'the kept notes first, each key once, none of another shard');
    t.strictSame(got.slice(2), ['u:live']);
    await unsubscribe();
    await new Promise((r) => setTimeout(r, 10));
    const again: string[] = [];
    const second = await mailbox.subscribe(5, 1, (key) => again.push(key));
    await new Promise((r) => setTimeout(r, 50));
    t.strictSame(again, [], 'delivered notes are not kept beyond the window');
    await second();
  });

  withStores('mailbox: a note delivered to a subscriber that never acts on it (a paused node) reaches the next subscriber within the window', async (t, stores) => {
    const peer = options.peer ? await options.peer(stores) : stores;
    if (peer !== stores) t.teardown(() => peer.close());
    const heardByPaused: string[] = [];
    // It never unsubscribes: a paused node still counts as the shard's subscriber.
    await stores.mailbox.subscribe(9, WINDOW_MS, (key) => heardByPaused.push(key));
    await peer.mailbox.notify(9, 'u:quiet', WINDOW_MS);
    await peer.mailbox.notify(9, 's:tab', WINDOW_MS);
    await peer.mailbox.notify(10, 'u:elsewhere', WINDOW_MS);
    await waitFor('the notes delivered to the paused subscriber', () => heardByPaused.length >= 2);
    t.strictSame(heardByPaused, ['u:quiet', 's:tab']);
    const got: string[] = [];
    const unsubscribe = await peer.mailbox.subscribe(9, WINDOW_MS, (key) => got.push(key));
    await waitFor('the recent notes', () => got.length >= 2);
    await peer.mailbox.notify(9, 'u:live', WINDOW_MS);
    await waitFor('the live note', () => got.includes('u:live'));
    t.strictSame(got.slice(0, 2).sort(), ['s:tab', 'u:quiet'], 'the next subscriber gets the recent notes first, each key once, none of another shard');
    t.strictSame(got.slice(2), ['u:live']);
    await unsubscribe();
  });

  withStores('mailbox: a delivered note older than the window is not handed to the next subscriber', async (t, { mailbox }) => {
    const heard: string[] = [];
    const unsubscribe = await mailbox.subscribe(11, 500, (key) => heard.push(key));
    await mailbox.notify(11, 'u:old', 500);
    await waitFor('the note', () => heard.length === 1);
    await unsubscribe();
    await new Promise((r) => setTimeout(r, 600));
    await mailbox.notify(11, 'u:new', 500);
    const got: string[] = [];
    const second = await mailbox.subscribe(11, 500, (key) => got.push(key));
    await waitFor('the recent note', () => got.length >= 1);
    await new Promise((r) => setTimeout(r, 30));
    t.strictSame(got, ['u:new'], 'only the note within the window');
    await second();
  });

  withStores('pushes: recorded per key, read back oldest first', async (t, { pushes }) => {
    t.strictSame(await pushes.read('u:none'), []);
    const first = { at: 1000, cause: '1-0', items: ['a', 'b'], modelVersion: 'm1', recommendationId: 'r1' };
    const second = { at: 2000, cause: null, items: ['b', 'a'], modelVersion: 'm2', arm: 'candidate' as const, recommendationId: 'r2' };
    await pushes.record('u:p', first);
    await pushes.record('u:other', { ...first, recommendationId: 'elsewhere' });
    await pushes.record('u:p', second);
    t.strictSame(await pushes.read('u:p'), [first, second]);
    t.strictSame((await pushes.read('u:other')).map((p) => p.recommendationId), ['elsewhere']);
  });

  withStores('users: profiles merge attributes and always carry USER_ID', async (t, { users }) => {
    t.equal(await users.get('nobody'), null);
    await users.put([{ userId: 'dave', attributes: { AGE: '41', TIER: 'silver' } }, { userId: 'erin', attributes: {} }]);
    await users.put([{ userId: 'dave', attributes: { TIER: 'gold' } }]);
    t.strictSame(await users.get('dave'), { AGE: '41', TIER: 'gold', USER_ID: 'dave' });
    t.strictSame(await users.get('erin'), { USER_ID: 'erin' });
    await users.put([]);
  });

  withStores('identities: a session links to one user', async (t, { identities }) => {
    t.equal(await identities.userOf('s1'), null);
    await identities.link('s1', 'alice');
    t.equal(await identities.userOf('s1'), 'alice');
    t.equal(await identities.userOf('s2'), null);
  });

  withStores('event log: delete erases the key\'s entries and its place in keys(), nothing else', async (t, { log }) => {
    const { eventId: _, ...base } = interaction('x', 'view', 'A', 5);
    await log.append('u:gone', base);
    await log.append('u:gone', { ...base, itemId: 'B' });
    const kept = await log.append('u:kept', base);
    await log.delete('u:gone');
    t.strictSame(await log.read('u:gone', null), []);
    t.strictSame(await log.keys('u:'), ['u:kept']);
    t.strictSame(await log.read('u:kept', null), [kept], 'another key is untouched');
    await log.delete('u:gone');
    await log.delete('u:never');
    const again = await log.append('u:gone', base);
    t.strictSame(await log.read('u:gone', null), [again], 'a deleted key can be written again');
    t.strictSame((await log.keys('u:')).sort(), ['u:gone', 'u:kept']);
  });

  withStores('pushes and users: delete erases one key or user only', async (t, { pushes, users }) => {
    const push = { at: 1000, cause: '1-0', items: ['a'], modelVersion: 'm1', recommendationId: 'r1' };
    await pushes.record('u:gone', push);
    await pushes.record('u:kept', push);
    await pushes.delete('u:gone');
    t.strictSame(await pushes.read('u:gone'), []);
    t.strictSame(await pushes.read('u:kept'), [push]);
    await pushes.delete('u:never');

    await users.put([{ userId: 'gone', attributes: { AGE: '30' } }, { userId: 'kept', attributes: { AGE: '40' } }]);
    await users.delete('gone');
    t.equal(await users.get('gone'), null);
    t.strictSame(await users.get('kept'), { AGE: '40', USER_ID: 'kept' });
    await users.delete('never');
  });

  withStores('identities: the user\'s sessions are listed, and unlinkUser removes every link of them', async (t, { identities }) => {
    t.strictSame(await identities.sessionsOf('alice'), []);
    await identities.link('s1', 'alice');
    await identities.link('s2', 'alice');
    await identities.link('s1', 'alice');
    await identities.link('s3', 'bob');
    t.strictSame(await identities.sessionsOf('alice'), ['s1', 's2'], 'sorted, each once');
    t.strictSame(await identities.sessionsOf('bob'), ['s3']);

    t.strictSame(await identities.unlinkUser('alice'), ['s1', 's2']);
    t.equal(await identities.userOf('s1'), null);
    t.equal(await identities.userOf('s2'), null);
    t.strictSame(await identities.sessionsOf('alice'), []);
    t.equal(await identities.userOf('s3'), 'bob', 'another user is untouched');
    t.strictSame(await identities.sessionsOf('bob'), ['s3']);
    t.strictSame(await identities.unlinkUser('alice'), [], 'nothing left to unlink');
    t.strictSame(await identities.unlinkUser('nobody'), []);

    // A session relinked to another user is still listed under the first, whose erasure leaves the new link.
    await identities.link('s4', 'carol');
    await identities.link('s4', 'dave');
    t.strictSame(await identities.unlinkUser('carol'), ['s4']);
    t.equal(await identities.userOf('s4'), 'dave');
    t.strictSame(await identities.sessionsOf('dave'), ['s4']);
    t.strictSame(await identities.sessionsOf('carol'), []);
  });

  withStores('mailbox: a discarded note is not handed to the next subscriber', async (t, { mailbox }) => {
    await mailbox.notify(7, 'u:gone', WINDOW_MS);
    await mailbox.notify(7, 'u:stays', WINDOW_MS);
    await mailbox.discard(7, 'u:gone');
    await mailbox.discard(7, 'u:never');
    await mailbox.discard(8, 'u:gone');
    const got: string[] = [];
    const unsubscribe = await mailbox.subscribe(7, WINDOW_MS, (key) => got.push(key));
    await waitFor('the kept note', () => got.length >= 1);
    await new Promise((r) => setTimeout(r, 30));
    t.strictSame(got, ['u:stays']);
    await unsubscribe();
  });

  withStores('api keys: create, get, list oldest first, revoke once; a duplicate id is refused', async (t, { apiKeys }) => {
    const first: ApiKeyRecord = { id: 'k1', name: 'ingest box', roles: ['ingest'], hash: 'a'.repeat(64), createdAt: 2000, revokedAt: null };
    const second: ApiKeyRecord = { id: 'k0', name: 'no roles', roles: [], hash: 'b'.repeat(64), createdAt: 3000, revokedAt: null };
    const third: ApiKeyRecord = { id: 'k2', name: 'ops "admin" é', roles: ['recommend', 'admin'], hash: 'c'.repeat(64), createdAt: 1_712_345_678_901, revokedAt: null };
    t.equal(await apiKeys.get('k1'), null);
    t.strictSame(await apiKeys.list(), []);
    await apiKeys.create(third);
    await apiKeys.create(first);
    await apiKeys.create(second);
    t.strictSame(await apiKeys.get('k1'), first);
    t.strictSame(await apiKeys.get('k0'), second, 'an empty role list stays a list');
    await t.rejects(apiKeys.create({ ...first, name: 'impostor' }), new Error('api key k1 exists'));
    t.strictSame(await apiKeys.get('k1'), first, 'the refused create changed nothing');
    t.strictSame(await apiKeys.list(), [first, second, third]);

    t.equal(await apiKeys.revoke('k1', 5000), true);
    t.equal(await apiKeys.revoke('k1', 6000), false, 'already revoked');
    t.equal(await apiKeys.revoke('nope', 6000), false, 'unknown');
    t.strictSame(await apiKeys.get('k1'), { ...first, revokedAt: 5000 });
    t.strictSame(await apiKeys.list(), [{ ...first, revokedAt: 5000 }, second, third]);
    const results = await Promise.all([apiKeys.revoke('k2', 7000), apiKeys.revoke('k2', 8000)]);
    t.strictSame(results.sort(), [false, true], 'of two concurrent revocations exactly one wins');
  });

  withStores('filters: create, get, list oldest first, delete; a duplicate name is refused', async (t, { filters }) => {
    const late: StoredFilter = { name: 'genres', filterExpression: 'INCLUDE ItemID WHERE Items.GENRES IN ($GENRES)', createdAt: 3000 };
    const early: StoredFilter = { name: 'no-clicks', filterExpression: 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")', createdAt: 1000 };
    const tied: StoredFilter = { name: 'a "quoted" é 日本', filterExpression: 'INCLUDE ItemID WHERE Items.PRICE <= 12.99 | EXCLUDE ItemID WHERE Items.CATEGORY IN ("\\")', createdAt: 3000 };
    t.equal(await filters.get('genres'), null);
    t.strictSame(await filters.list(), []);
    await filters.create(late);
    await filters.create(early);
    await filters.create(tied);
    t.strictSame(await filters.get('genres'), late);
    t.strictSame(await filters.get(tied.name), tied, 'names and expressions read back exactly');
    await t.rejects(filters.create({ ...late, filterExpression: 'EXCLUDE ItemID WHERE Items.PRICE > 1' }), new Error('filter genres exists'));
    t.strictSame(await filters.get('genres'), late, 'the refused create changed nothing');
    const copy = await filters.get('genres');
    if (copy !== null) copy.filterExpression = 'changed by the caller';
    t.strictSame(await filters.get('genres'), late, 'a read is a copy');
    t.strictSame(await filters.list(), [early, tied, late], 'oldest first, the same millisecond by name');
    const results = await Promise.allSettled([filters.create({ ...early, name: 'race', createdAt: 2000 }), filters.create({ ...late, name: 'race', createdAt: 2000 })]);
    t.strictSame(results.map((r) => r.status).sort(), ['fulfilled', 'rejected'], 'of two concurrent creates of one name exactly one wins');

    t.equal(await filters.delete('genres'), true);
    t.equal(await filters.delete('genres'), false, 'already deleted');
    t.equal(await filters.delete('never'), false);
    t.equal(await filters.get('genres'), null);
    t.strictSame((await filters.list()).map((f) => f.name), ['no-clicks', 'race', tied.name]);
    await filters.create(late);
    t.strictSame(await filters.get('genres'), late, 'a deleted name can be created again');
  });

  withStores('audit: newest first, paged with an exclusive `before`', async (t, { audit }) => {
    t.strictSame(await audit.read({ limit: 10 }), []);
    const entries: AuditEntry[] = [
      { at: 1, actor: 'master', action: 'key.create', target: 'k1', outcome: 'ok' },
      { at: 2, actor: 'k1', action: 'user.delete', target: 'job-1', outcome: 'ok', requestId: 'req-1' },
      { at: 3, actor: 'cli:ops', action: 'model.swap', target: 'v7', outcome: 'failed', detail: { reason: 'bad shape', items: 3, dryRun: false } },
    ];
    const ids: string[] = [];
    for (const entry of entries) ids.push(await audit.record(entry));
    t.ok(compareEventIds(ids[0], ids[1]) < 0 && compareEventIds(ids[1], ids[2]) < 0, `ids grow: ${ids.join(', ')}`);
    const all = entries.map((entry, i) => ({ ...entry, id: ids[i] })).reverse();
    t.strictSame(await audit.read({ limit: 10 }), all);
    t.strictSame(await audit.read({ limit: 2 }), all.slice(0, 2));
    t.strictSame(await audit.read({ limit: 2, before: ids[1] }), all.slice(2));
    t.strictSame(await audit.read({ limit: 1, before: ids[2] }), all.slice(1, 2));
    t.strictSame(await audit.read({ limit: 5, before: ids[0] }), []);
    t.strictSame(await audit.read({ limit: 0 }), []);
  });

  withStores('consent: opt out, back in, and a deletion forgets the choice', async (t, { consent }) => {
    t.equal(await consent.isOptedOut('ann'), false);
    await consent.setOptedOut('ann', true);
    await consent.setOptedOut('ben', true);
    t.equal(await consent.isOptedOut('ann'), true);
    await consent.setOptedOut('ann', true);
    t.equal(await consent.isOptedOut('ann'), true, 'opting out twice is opting out');
    await consent.setOptedOut('ann', false);
    t.equal(await consent.isOptedOut('ann'), false);
    await consent.setOptedOut('ann', false);
    t.equal(await consent.isOptedOut('ann'), false);
    await consent.delete('ben');
    t.equal(await consent.isOptedOut('ben'), false);
    await consent.delete('nobody');
  });

  withStores('deletion jobs: put replaces, get reads back exactly, an unknown id is null', async (t, { deletionJobs }) => {
    const running: DeletionJob = { id: 'job-1', state: 'running', requestedAt: 1000, finishedAt: null, keysErased: 0 };
    const failed: DeletionJob = { id: 'job-1', state: 'failed', requestedAt: 1000, finishedAt: 2000, keysErased: 2, error: 'redis unavailable' };
    t.equal(await deletionJobs.get('job-1'), null);
    await deletionJobs.put(running);
    t.strictSame(await deletionJobs.get('job-1'), running);
    await deletionJobs.put(failed);
    await deletionJobs.put({ id: 'job-2', state: 'done', requestedAt: 3000, finishedAt: 4000, keysErased: 3 });
    t.strictSame(await deletionJobs.get('job-1'), failed);
    t.strictSame(await deletionJobs.get('job-2'), { id: 'job-2', state: 'done', requestedAt: 3000, finishedAt: 4000, keysErased: 3 });
    t.equal(await deletionJobs.get('job-3'), null);
  });

  withStores('online metrics: increments add up per minute and dimensions, across nodes; read sums the minutes from since on', async (t, stores) => {
    const peer = options.peer ? await options.peer(stores) : stores;
    if (peer !== stores) t.teardown(() => peer.close());
    const counts = (partial: Partial<OnlineCounts>): OnlineCounts => ({ ...zeroCounts(), ...partial });
    const live = { modelVersion: 'v1', recipe: 'push', arm: 'live' };
    const related = { modelVersion: 'v1', recipe: 'related', arm: 'live' };
    const odd = { modelVersion: 'v2 "quoted" | barred', recipe: 'push', arm: 'candidate' };
    // Recent minutes: buckets older than the retention may be dropped.
    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    t.strictSame(await stores.onlineMetrics.read(0), [], 'nothing counted yet');
    await stores.onlineMetrics.add([
      { minute, rows: [{ dims: live, counts: counts({ lists: 2, impressions: 40, clicks: 3, revenue: 12.25, revenueSquares: 150.0625 }) }] },
      { minute: minute + 60_000, rows: [{ dims: related, counts: counts({ lists: 1, impressions: 10 }) }, { dims: odd, counts: counts({ lists: 1, impressions: 5, purchases: 1, revenue: 0.5, revenueSquares: 0.25 }) }] },
    ]);
    await peer.onlineMetrics.add([{ minute, rows: [{ dims: live, counts: counts({ lists: 1, impressions: 20, clicks: 1, addToCarts: 2, purchases: 1, revenue: 2.5, revenueSquares: 6.25 }) }] }]);
    await peer.onlineMetrics.add([{ minute: minute + 120_000, rows: [] }]);
    const all = [
      { dims: live, counts: counts({ lists: 3, impressions: 60, clicks: 4, addToCarts: 2, purchases: 1, revenue: 14.75, revenueSquares: 156.3125 }) },
      { dims: related, counts: counts({ lists: 1, impressions: 10 }) },
      { dims: odd, counts: counts({ lists: 1, impressions: 5, purchases: 1, revenue: 0.5, revenueSquares: 0.25 }) },
    ];
    t.strictSame(await stores.onlineMetrics.read(minute), all, 'both nodes\' increments, summed per dimensions, ordered by version, recipe, arm');
    t.strictSame(await peer.onlineMetrics.read(0), all, 'the same from the other node');
    t.strictSame(await stores.onlineMetrics.read(minute + 60_000 + 59_999), all.slice(1), 'since falls in a minute: that whole minute counts');
    t.strictSame(await stores.onlineMetrics.read(minute + 120_000), [], 'no later bucket');
  });

  withStores('bus: every subscriber gets each message, the publisher\'s node included; an unsubscribed one does not', async (t, stores) => {
    const peer = options.peer ? await options.peer(stores) : stores;
    if (peer !== stores) t.teardown(() => peer.close());
    const here: BusMessage[] = [];
    const there: BusMessage[] = [];
    const unsubscribeHere = await stores.bus.subscribe((message) => here.push(message));
    const unsubscribeThere = await peer.bus.subscribe((message) => there.push(message));
    const forget: BusMessage = { type: 'forget', keys: ['u:a', 's:b'] };
    const consent: BusMessage = { type: 'consent', userId: 'u1', optedOut: true };
    await stores.bus.publish(forget);
    await peer.bus.publish(consent);
    await waitFor('both messages on both subscribers', () => here.length >= 2 && there.length >= 2);
    // Messages from two publishers may arrive in either order (in a cluster, via different nodes).
    const sorted = (messages: BusMessage[]) => [...messages].sort((a, b) => a.type.localeCompare(b.type));
    t.strictSame(sorted(here), [consent, forget]);
    t.strictSame(sorted(there), [consent, forget]);

    await unsubscribeThere();
    const revoked: BusMessage = { type: 'key-revoked', keyId: 'k9' };
    await stores.bus.publish(revoked);
    await waitFor('the third message', () => here.length >= 3);
    await new Promise((r) => setTimeout(r, 50));
    t.strictSame(here.slice(2), [revoked]);
    t.equal(there.length, 2, 'nothing after unsubscribing');
    await unsubscribeHere();
  });
}
