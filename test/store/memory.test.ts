import t from 'tap';
import { createMemoryStores } from '../../src/store/memory.js';
import { compareEventIds } from '../../src/store/types.js';
import { storeConformance } from './conformance.js';

storeConformance(t, 'memory', async () => createMemoryStores());

t.test('event ids compare as (ms, seq) numbers, not strings', async (t) => {
  t.ok(compareEventIds('9-0', '10-0') < 0);
  t.ok(compareEventIds('10-2', '10-10') < 0);
  t.equal(compareEventIds('10-2', '10-2'), 0);
  t.ok(compareEventIds(null, '0-0') < 0);
});
