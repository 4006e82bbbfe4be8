import t from 'tap';
import type { Interaction } from '../../src/model/types.js';
import { hashInteractions, scoreReference, trainItemItem } from '../../src/training/trainer.js';
import { seededRandom } from '../../src/lib/random.js';

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

t.test('trainer: top-k selection equals a full sort of the normalised row', async (t) => {
  const random = seededRandom(99);
  const data: Interaction[] = [];
  for (let n = 0; n < 3000; n++) data.push(at(`u${Math.floor(random() * 60)}`, `i${Math.floor(random() * 40)}`, n));
  for (const neighbours of [1, 3, 7, 40]) {
    const params = { window: 6, decay: 0.7, backwardWeight: 0.3, alpha: 0.4, beta: 0.6, neighbours };
    const model = trainItemItem(data, params);
    const full = trainItemItem(data, { ...params, neighbours: 64 });
    // The first `neighbours` of the unlimited table are the limited table.
    for (let i = 0; i < model.itemCount; i++) {
      for (let s = 0; s < neighbours; s++) {
        if (model.nbrIdx[i * neighbours + s] !== full.nbrIdx[i * 64 + s] || model.nbrW[i * neighbours + s] !== full.nbrW[i * 64 + s]) {
          t.fail(`k=${neighbours} item ${i} slot ${s}`);
          return;
        }
      }
    }
    t.pass(`k=${neighbours}: same neighbours as the head of a longer list`);
  }
});

/*
 * The newer knobs, by hand. u1: a b (2 interactions), u2: a b a c (4 interactions).
 * window 1, no backward, alpha = beta = 0, so weights are raw sums.
 */
const knobData: Interaction[] = [at('u1', 'a', 1), at('u1', 'b', 2), at('u2', 'a', 1), at('u2', 'b', 2), at('u2', 'a', 3), at('u2', 'c', 4)];
const knobBase = { window: 1, backwardWeight: 0, alpha: 0, beta: 0, neighbours: 2 };

t.test('trainer: recencyDecay weighs a pair by its later interactions', async (t) => {
  // a->b of u1: 0.5^0 = 1; a->b of u2: 0.5^2 (a, c follow b); b->a of u2: 0.5^1; a->c of u2: 1.
  const model = trainItemItem(knobData, { ...knobBase, recencyDecay: 0.5 });
  t.strictSame(model.items, ['a', 'b', 'c']);
  t.strictSame([...model.nbrIdx.subarray(0, 2)], [1, 2], 'a: b 1.25, c 1');
  t.strictSame([...model.nbrW.subarray(0, 4)], [1.25, 1, 0.5, 0], 'b: a 0.5');
  // Weighted counts: a 0.5 + 0.125 + 0.5 = 1.125, b 1 + 0.25 = 1.25, c 1; the prior follows them.
  const log = [1.125, 1.25, 1].map((c) => Math.log1p(c));
  t.strictSame([...model.prior], log.map((l) => Math.fround((l / log[1]) * 0.01)));
});

t.test('trainer: userLengthExponent divides a user\'s pairs by length^exponent', async (t) => {
  const model = trainItemItem(knobData, { ...knobBase, userLengthExponent: 1 });
  // a->b: 1/2 (u1) + 1/4 (u2) = 0.75; a->c: 1/4; b->a: 1/4.
  t.strictSame([...model.nbrW.subarray(0, 4)], [0.75, 0.25, 0.25, 0]);
});

t.test('trainer: repeatWeight lets an item follow itself', async (t) => {
  const repeats = [at('u1', 'a', 1), at('u1', 'a', 2), at('u1', 'b', 3), at('u2', 'a', 1), at('u2', 'b', 2)];
  const none = trainItemItem(repeats, { ...knobBase, backwardWeight: 1 });
  t.strictSame([...none.nbrIdx.subarray(0, 2)], [1, 0], 'a: only b (weight 2)');
  t.strictSame([...none.nbrW.subarray(0, 2)], [2, 0]);
  const some = trainItemItem(repeats, { ...knobBase, backwardWeight: 1, repeatWeight: 3 });
  t.strictSame([...some.nbrIdx.subarray(0, 2)], [0, 1], 'a: itself (3, not doubled by backward), then b (2)');
  t.strictSame([...some.nbrW.subarray(0, 2)], [3, 2]);
});
