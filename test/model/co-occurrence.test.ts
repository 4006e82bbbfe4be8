import t from 'tap';
import { CoOccurrenceTable, DEFAULT_CO_OCCURRENCE_OPTIONS, type CoOccurrenceOptions, type PairIncrement } from '../../src/model/co-occurrence.js';

const options = (over: Partial<CoOccurrenceOptions> = {}): CoOccurrenceOptions => ({ ...DEFAULT_CO_OCCURRENCE_OPTIONS, windowItems: 2, windowMs: 10_000, halfLifeMs: 1000, backwardWeight: 0.5, ...over });

t.test('a session pairs each item with its last items: 1/distance forward, half that backward', async (t) => {
  const table = new CoOccurrenceTable(options());
  t.strictSame(table.observe('s', 'a', 0), []);
  t.strictSame(table.observe('s', 'b', 0), [
    { from: 'a', to: 'b', weight: 1, at: 0 },
    { from: 'b', to: 'a', weight: 0.5, at: 0 },
  ]);
  t.strictSame(table.observe('s', 'b', 0), [], 'a repeat of the latest item pairs with nothing');
  t.strictSame(table.observe('s', 'c', 0), [
    { from: 'b', to: 'c', weight: 1, at: 0 },
    { from: 'c', to: 'b', weight: 0.5, at: 0 },
    { from: 'a', to: 'c', weight: 0.5, at: 0 },
    { from: 'c', to: 'a', weight: 0.25, at: 0 },
  ]);
  t.strictSame(table.observe('s', 'd', 0).map((p) => `${p.from}>${p.to}`), ['c>d', 'd>c', 'b>d', 'd>b'], 'a is out of the 2-item window');
  t.strictSame(table.observe('other', 'e', 0), [], 'sessions do not mix');
  t.strictSame(table.observe('s', 'e', 20_000), [], 'items further apart than windowMs do not pair');
  t.equal(table.size, 0, 'observe does not add');
});

t.test('weights decay with event time and add up in any order', async (t) => {
  const increments: PairIncrement[] = [
    { from: 'a', to: 'b', weight: 1, at: 0 },
    { from: 'a', to: 'c', weight: 1, at: 1000 },
    { from: 'a', to: 'b', weight: 1, at: 2000 },
    { from: 'a', to: 'd', weight: 0.5, at: 2000 },
  ];
  const inOrder = new CoOccurrenceTable(options());
  inOrder.add(increments);
  // At 2000: b = 1/4 + 1, c = 1/2, d = 0.5.
  t.strictSame(inOrder.neighbours('a', 5), [
    { itemId: 'b', score: 1.25 },
    { itemId: 'c', score: 0.5 },
    { itemId: 'd', score: 0.5 },
  ]);
  const reversed = new CoOccurrenceTable(options());
  reversed.add([...increments].reverse());
  t.strictSame(reversed.neighbours('a', 5), inOrder.neighbours('a', 5), 'the same table whatever the order');
  t.strictSame(inOrder.neighbours('b', 5), [], 'one direction only');
  t.strictSame(inOrder.neighbours('a', 1), [{ itemId: 'b', score: 1.25 }]);
});

t.test('bounded: the weakest neighbour and the least recently updated row go first', async (t) => {
  const table = new CoOccurrenceTable(options({ maxNeighbours: 2, maxItems: 2 }));
  table.add([
    { from: 'a', to: 'x', weight: 3, at: 0 },
    { from: 'a', to: 'y', weight: 1, at: 0 },
    { from: 'a', to: 'z', weight: 2, at: 0 },
  ]);
  t.strictSame(table.neighbours('a', 5).map((n) => n.itemId), ['x', 'z']);
  table.add([{ from: 'b', to: 'x', weight: 1, at: 0 }]);
  table.add([{ from: 'a', to: 'x', weight: 1, at: 0 }]);
  table.add([{ from: 'c', to: 'x', weight: 1, at: 0 }]);
  t.strictSame([...table.itemIds()], ['a', 'c'], 'b was updated least recently');
  t.strictSame(table.neighbours('b', 5), []);
});

t.test('remembered sessions are bounded', async (t) => {
  const table = new CoOccurrenceTable(options({ maxSessions: 1 }));
  table.observe('s1', 'a', 0);
  table.observe('s2', 'b', 0);
  t.strictSame(table.observe('s1', 'c', 0), [], 's1 was forgotten for s2');
});
