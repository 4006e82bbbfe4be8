import type { Test } from 'tap';
import type { Stores } from '../../src/store/types.js';
import { compareEventIds } from '../../src/store/types.js';
import { interaction } from '../helpers.js';

/**
 * The behaviour every store implementation owes the rest of Attune. Each implementation's test
 * file runs this suite against its own factory.
 */
export function storeConformance(t: Test, name: string, createStores: () => Promise<Stores>): void {
  const withStores = (title: string, body: (t: Test, stores: Stores) => Promise<void>): void => {
    t.test(`${name}: ${title}`, async (t) => {
      const stores = await createStores();
      t.teardown(() => stores.close());
      await body(t, stores);
    });
  };

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

  withStores('catalog: upserts merge into stored items, new items get defaults', async (t, { catalog }) => {
    await catalog.upsert([{ itemId: 'a', title: 'A', category: 'c1', price: 10, inStock: true }]);
    const [updated, created] = await catalog.upsert([{ itemId: 'a', inStock: false }, { itemId: 'b' }]);
    t.strictSame(updated, { itemId: 'a', title: 'A', category: 'c1', price: 10, inStock: false });
    t.strictSame(created, { itemId: 'b', title: 'b', category: 'uncategorized', price: 0, inStock: true });
    t.strictSame((await catalog.list()).map((i) => i.itemId).sort(), ['a', 'b']);
  });

  withStores('identities: a session links to one user', async (t, { identities }) => {
    t.equal(await identities.userOf('s1'), null);
    await identities.link('s1', 'alice');
    t.equal(await identities.userOf('s1'), 'alice');
    t.equal(await identities.userOf('s2'), null);
  });
}
