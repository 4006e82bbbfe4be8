import t from 'tap';
import type { Interaction } from '../../src/model/types.js';
import { hashInteractions, scoreReference, trainItemItem } from '../../src/model/trainer.js';
import { seededRandom } from '../../src/model/synthetic.js';

const at = (userId: string, itemId: string, timestamp: number, eventType = 'view'): Interaction => ({
  userId,
  itemId,
  timestamp,
  eventType,
});

/*
 * Hand-worked example, window 2, decay 0.5, backwardWeight 0.5, alpha = beta = 0.5, k = 2.
 * Sequences (after sorting by time; u2 is given out of order):
 *   u1: a(view) b(view) c(purchase=3)     a->b 1, a->c 3*0.5, b->c 3; backward half of each
 *   u2: a(view) b(add-to-cart=2)          a->b 2, b->a 1
 *   u3: d a a(click) d                    d->a 1 + 0.5, a->d 0.5 + 1 (a->a skipped),
 *                                         backward: a->d 0.5 + 0.25, d->a 0.25 + 0.5
 * Raw: ab 3, ac 1.5, ad 2.25, ba 1.5, bc 3, ca 0.75, cb 1.5, da 2.25
 * Counts a 4, b 2, c 1, d 2; w_ij / sqrt(c_i c_j):
 *   a: b 3/sqrt8, d 2.25/sqrt8 (c 0.75 cut)   b: c 3/sqrt2, a 1.5/sqrt8
 *   c: b 1.5/sqrt2, a 0.75/2                  d: a 2.25/sqrt8, then padding (0, 0)
 */
const handMade: Interaction[] = [
  at('u1', 'a', 1),
  at('u1', 'b', 2),
  at('u1', 'c', 3, 'purchase'),
  at('u2', 'b', 2, 'add-to-cart'),
  at('u2', 'a', 1),
  at('u3', 'd', 1),
  at('u3', 'a', 5),
  at('u3', 'a', 6, 'click'),
  at('u3', 'd', 7),
];
const handParams = { window: 2, decay: 0.5, backwardWeight: 0.5, alpha: 0.5, beta: 0.5, neighbours: 2 };

t.test('trainer: hand-computed neighbours, weights and prior', async (t) => {
  const progress: [number, number][] = [];
  const model = trainItemItem(handMade, handParams, (done, total) => progress.push([done, total]));
  const s8 = Math.sqrt(8);
  const s2 = Math.sqrt(2);

  t.strictSame(model.items, ['a', 'b', 'c', 'd']);
  t.strictSame([...model.counts], [4, 2, 1, 2]);
  t.equal(model.itemCount, 4);
  t.equal(model.neighbours, 2);
  t.strictSame([...model.nbrIdx], [1, 3, 2, 0, 1, 0, 0, 0, /* padding row */ 0, 0]);
  const expectedW = [3 / s8, 2.25 / s8, 3 / s2, 1.5 / s8, 1.5 / s2, 0.75 / 2, 2.25 / s8, 0, 0, 0];
  t.equal(model.nbrW.length, expectedW.length);
  expectedW.forEach((w, i) => t.equal(model.nbrW[i], Math.fround(w), `nbrW[${i}]`));

  const log5 = Math.log1p(4);
  const expectedPrior = [1, Math.log1p(2) / log5, Math.log1p(1) / log5, Math.log1p(2) / log5].map((p) =>
    Math.fround(p * 0.01),
  );
  t.strictSame([...model.prior], expectedPrior);

  t.strictSame(
    { ...model.stats, trainingSeconds: 0 },
    { interactions: 9, users: 3, items: 4, pairs: 8, trainingSeconds: 0, trainingDataHash: hashInteractions(handMade) },
  );
  t.ok(model.stats.trainingSeconds >= 0);
  t.strictSame(progress, [[7, 7]], 'progress ends at users + items');
  t.strictSame(model.params.eventWeights, { view: 1, click: 1, 'add-to-cart': 2, purchase: 3 });
});

t.test('trainer: equal neighbour weights rank the lower item index first', async (t) => {
  const model = trainItemItem(
    [at('u1', 'e', 1), at('u1', 'g', 2), at('u2', 'e', 1), at('u2', 'f', 2)],
    { neighbours: 3, backwardWeight: 0 },
  );
  t.strictSame(model.items, ['e', 'f', 'g']);
  // e->f and e->g both weigh 1 / sqrt(2 * 1); f, g have no forward neighbours.
  t.strictSame([...model.nbrIdx.subarray(0, 3)], [1, 2, 0]);
  t.strictSame([...model.nbrW.subarray(0, 3)], [Math.fround(1 / Math.SQRT2), Math.fround(1 / Math.SQRT2), 0]);
  t.strictSame([...model.nbrW.subarray(3)], [0, 0, 0, 0, 0, 0, 0, 0, 0]);
});

t.test('trainer: unknown event types use defaultEventWeight; overrides merge', async (t) => {
  const data = [at('u', 'x', 1), at('u', 'y', 2, 'share')];
  const model = trainItemItem(data, { defaultEventWeight: 4, eventWeights: { view: 10 }, backwardWeight: 0 });
  t.equal(model.params.eventWeights.purchase, 3, 'defaults kept');
  t.equal(model.params.eventWeights.view, 10);
  t.equal(model.nbrW[0], 4, 'x->y = weight of share (4) / sqrt(1*1)');
});

t.test('trainer: the same data in another order gives the same model', async (t) => {
  const random = seededRandom(7);
  const data: Interaction[] = [];
  for (let n = 0; n < 400; n++) {
    data.push(at(`u${Math.floor(random() * 30)}`, `item-${Math.floor(random() * 25)}`, n, random() < 0.2 ? 'purchase' : 'view'));
  }
  const shuffled = [...data];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const a = trainItemItem(data);
  const b = trainItemItem(shuffled);
  t.strictSame(a.items, b.items);
  t.strictSame([...a.nbrIdx], [...b.nbrIdx]);
  t.strictSame([...a.nbrW], [...b.nbrW]);
  t.strictSame([...a.prior], [...b.prior]);
  t.equal(a.stats.trainingDataHash, b.stats.trainingDataHash);
  t.not(hashInteractions(data.slice(1)), a.stats.trainingDataHash);
});

t.test('trainer: rejects empty input and bad parameters', async (t) => {
  t.throws(() => trainItemItem([]), /no interactions/);
  t.throws(() => trainItemItem(handMade, { window: 0 }), /window must be a positive integer/);
  t.throws(() => trainItemItem(handMade, { decay: -1 }), /decay must be finite/);
});

t.test('scoreReference: popularity without history, neighbours with it', async (t) => {
  const model = trainItemItem(handMade, handParams);
  const p = model.prior;
  t.strictSame(scoreReference(model, { itemIds: [], weights: [] }, 4), [
    { itemId: 'a', score: p[0] },
    { itemId: 'b', score: p[1] },
    { itemId: 'd', score: p[3] },
    { itemId: 'c', score: p[2] },
  ]);
  // History c (weight 2): b gets 2 * 1.5/sqrt2, a gets 2 * 0.375; unknown ids are dropped.
  const scored = scoreReference(model, { itemIds: ['c', 'nope'], weights: [2, 5] }, 2);
  t.strictSame(scored, [
    { itemId: 'b', score: Math.fround(p[1] + Math.fround(model.nbrW[4] * 2)) },
    { itemId: 'a', score: Math.fround(p[0] + Math.fround(model.nbrW[5] * 2)) },
  ]);
  t.equal(scored[0].score, Math.fround(p[1] + Math.fround(Math.fround(1.5 / Math.SQRT2) * 2)));
});
