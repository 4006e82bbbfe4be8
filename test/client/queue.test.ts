import t from 'tap';
import { EventQueue, type QueuedEvent } from '../../clients/js/src/queue.js';
import type { StorageLike } from '../../clients/js/src/types.js';
import { MapStorage } from './support.js';

const event = (n: number, extra: Partial<QueuedEvent> = {}): QueuedEvent => ({ eventId: `id-${n}`, eventType: 'view', itemId: `item-${n}`, sentAt: 1000 + n, ...extra });
const ids = (queue: EventQueue) => queue.all().map((e) => e.eventId);

t.test('oldest first; remove takes any event by id', async (t) => {
  const queue = new EventQueue({ capacity: 10, storage: null, key: 'q' });
  for (const n of [1, 2, 3]) t.strictSame(queue.push(event(n)), []);
  t.equal(queue.peek()?.eventId, 'id-1');
  t.equal(queue.remove('id-2'), true);
  t.equal(queue.remove('id-2'), false, 'gone already');
  t.strictSame(ids(queue), ['id-1', 'id-3']);
  t.equal(queue.size, 2);
});

t.test('full: a new event drops the oldest, which push returns', async (t) => {
  const queue = new EventQueue({ capacity: 3, storage: null, key: 'q' });
  for (const n of [1, 2, 3]) queue.push(event(n));
  t.strictSame(queue.push(event(4)), [event(1)]);
  t.strictSame(queue.push(event(5)), [event(2)]);
  t.strictSame(ids(queue), ['id-3', 'id-4', 'id-5']);
});

t.test('persistence: a new queue on the same storage and key has the same events, ids and fields, in order', async (t) => {
  const storage = new MapStorage();
  const first = new EventQueue({ capacity: 10, storage, key: 'attune.queue.s1' });
  const rich = event(2, { eventValue: 9.5, properties: { color: 'red', nested: { n: [1, 2] } }, impression: ['a', 'b'], recommendationId: 'rec-1' });
  for (const e of [event(1), rich, event(3)]) first.push(e);
  first.remove('id-1');
  const second = new EventQueue({ capacity: 10, storage, key: 'attune.queue.s1' });
  t.strictSame(second.all(), [rich, event(3)], 'the same events after a reload');
  t.strictSame(new EventQueue({ capacity: 10, storage, key: 'attune.queue.s2' }).all(), [], 'another key: another queue');
  second.remove('id-2');
  second.remove('id-3');
  t.equal(storage.getItem('attune.queue.s1'), null, 'an empty queue leaves nothing in storage');
});

t.test('a reload into a smaller capacity keeps the newest', async (t) => {
  const storage = new MapStorage();
  const big = new EventQueue({ capacity: 10, storage, key: 'q' });
  for (const n of [1, 2, 3, 4]) big.push(event(n));
  t.strictSame(ids(new EventQueue({ capacity: 2, storage, key: 'q' })), ['id-3', 'id-4']);
});

t.test('storage holding garbage or malformed events: only well-formed events load', async (t) => {
  const storage = new MapStorage();
  for (const text of ['{', 'null', '[]', '{"v":2,"events":[]}', '{"v":1,"events":{}}']) {
    storage.setItem('q', text);
    t.strictSame(new EventQueue({ capacity: 5, storage, key: 'q' }).all(), [], text);
  }
  storage.setItem('q', JSON.stringify({ v: 1, events: [event(1), { ...event(2), sentAt: 'yesterday' }, { ...event(3), properties: [1] }, null, event(4)] }));
  t.strictSame(ids(new EventQueue({ capacity: 5, storage, key: 'q' })), ['id-1', 'id-4']);
});

t.test('a storage that throws (quota, private mode): the queue keeps working in memory', async (t) => {
  const broken: StorageLike = {
    getItem: () => null,
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
    removeItem: () => {},
  };
  const queue = new EventQueue({ capacity: 5, storage: broken, key: 'q' });
  queue.push(event(1));
  queue.push(event(2));
  t.strictSame(ids(queue), ['id-1', 'id-2']);
});

t.test('a capacity below 1 is refused', async (t) => {
  t.throws(() => new EventQueue({ capacity: 0, storage: null, key: 'q' }), RangeError);
});
