import t from 'tap';
import { pick, seededRandom } from '../../src/lib/random.js';

t.test('seededRandom is mulberry32: the same numbers for a seed on every machine', async (t) => {
  const random = seededRandom(42);
  t.strictSame([random(), random(), random()], [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  const again = seededRandom(42);
  t.equal(again(), 0.6011037519201636, 'a new generator starts over');
});

t.test('pick draws one value per call from the generator', async (t) => {
  const random = seededRandom(7);
  const letters = ['a', 'b', 'c', 'd'];
  t.strictSame([pick(random, letters), pick(random, letters), pick(random, letters)], ['a', 'a', 'd']);
});
