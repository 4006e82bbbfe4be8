import t, { type Test } from 'tap';
import { explorationSlots, withExploration } from '../../src/model/exploration.js';
import { EXPLORE_PROMOTION } from '../../src/model/live-scorer.js';
import { liveScores } from '../../src/model/live-neighbours.js';
import { LiveUpdates } from '../../src/model/live-updates.js';
import { Scorer } from '../../src/model/scorer.js';
import type { Interaction, ScoredItem } from '../../src/model/types.js';
import { writeBundle } from '../../src/training/bundle-writer.js';
import { trainItemItem } from '../../src/training/trainer.js';

/** Ten users who each view a, b, c, d in that order, and two who view e: the model knows a..e. */
function interactions(): Interaction[] {
  const out: Interaction[] = [];
  for (let u = 0; u < 10; u++) ['a', 'b', 'c', 'd'].forEach((itemId, i) => out.push({ userId: `u${u}`, itemId, timestamp: u * 100 + i, eventType: 'view' }));
  for (let u = 10; u < 12; u++) out.push({ userId: `u${u}`, itemId: 'e', timestamp: u * 100, eventType: 'view' });
  return out;
}

async function realScorer(t: Test): Promise<Scorer> {
  const dir = t.testdir();
  await writeBundle(dir, trainItemItem(interactions()));
  const scorer = await Scorer.load(dir);
  t.teardown(() => scorer.close());
  return scorer;
}

const blend = { knownWeight: 0, weakBelow: 0, exploreShare: 0, exploreSeed: 0 };
const onlyA = { itemIds: ['a'], weights: [1] };

t.test('with nothing learnt, the model\'s lists are unchanged', async (t) => {
  const scorer = await realScorer(t);
  const live = new LiveUpdates(blend).scorerFor(scorer);
  t.strictSame(await live.scoreOrFallback(onlyA, 5), await scorer.scoreOrFallback(onlyA, 5));
  t.equal(live.itemCount, 5);
  t.equal(live.explore, undefined, 'exploration is off by default');
});

t.test('a new item of the same category ranks right after the model\'s best; known items keep their scores', async (t) => {
  const scorer = await realScorer(t);
  const updates = new LiveUpdates(blend);
  const live = updates.scorerFor(scorer);
  updates.catalogChanged([
    { itemId: 'a', category: 'shoes', title: 'Trail Runner' },
    { itemId: 'c', category: 'shoes', title: 'Court Classic' },
    { itemId: 'new', category: 'shoes', title: 'Trail Runner Two' },
  ]);
  const model = (await scorer.scoreOrFallback(onlyA, 5)).items;
  const blended = await live.scoreOrFallback(onlyA, 6);
  t.equal(blended.fallback, null);
  // Live scores of a's history: new 0.5 + 0.5 * 2/3 = 5/6 (the best, so 1), c 0.5 (so 0.6).
  t.strictSame(blended.items, [model[0], { itemId: 'new', score: model[0].score }, ...model.slice(1)]);
  t.equal(live.itemCount, 6);
  t.ok(live.hasItem('new'));
  t.strictSame(updates.newItems(), ['new']);
});

t.test('a new item\'s own list: its live neighbours, the known ones too, over the popularity prior', async (t) => {
  const scorer = await realScorer(t);
  const updates = new LiveUpdates(blend);
  const live = updates.scorerFor(scorer);
  updates.catalogChanged([{ itemId: 'new', category: 'shoes', title: 'x' }, { itemId: 'e', category: 'shoes', title: 'y' }]);
  const prior = (await scorer.scoreOrFallback({ itemIds: ['new'], weights: [1] }, 5)).items;
  const related = await live.scoreOrFallback({ itemIds: ['new'], weights: [1] }, 5);
  const scoreOf = (items: ScoredItem[], id: string) => items.find((i) => i.itemId === id)?.score ?? NaN;
  t.equal(related.items[0].itemId, 'e');
  t.equal(related.items[0].score, scoreOf(prior, 'e') + prior[0].score);
  t.strictSame(related.items.slice(1), prior.filter((i) => i.itemId !== 'e').slice(0, 4));
});

t.test('co-occurrences link a new item to the items of its sessions at once, and only with --live-known-weight do known items move', async (t) => {
  const scorer = await realScorer(t);
  const updates = new LiveUpdates(blend);
  const live = updates.scorerFor(scorer);
  const model = (await scorer.scoreOrFallback(onlyA, 5)).items;
  updates.observe('s1', 'a', 1000);
  t.strictSame(updates.observe('s1', 'fresh', 2000), [
    { from: 'a', to: 'fresh', weight: 1, at: 2000 },
    { from: 'fresh', to: 'a', weight: 0.5, at: 2000 },
  ]);
  t.strictSame((await live.scoreOrFallback(onlyA, 6)).items, [model[0], { itemId: 'fresh', score: model[0].score }, ...model.slice(1)]);
  // Another node's increments count the same.
  updates.add([{ from: 'a', to: 'd', weight: 4, at: 2000 }]);
  const unchanged = (await live.scoreOrFallback(onlyA, 6)).items;
  t.strictSame(unchanged.filter((i) => i.itemId !== 'fresh'), model, 'known items keep the model\'s scores');
  t.strictSame(unchanged.find((i) => i.itemId === 'fresh'), { itemId: 'fresh', score: model[0].score * 0.25 }, 'fresh is now a quarter of a\'s strongest link');

  const weighted = new LiveUpdates({ ...blend, knownWeight: 1 });
  const liveWeighted = weighted.scorerFor(scorer);
  weighted.add([{ from: 'a', to: 'd', weight: 4, at: 2000 }]);
  const d = (await liveWeighted.scoreOrFallback(onlyA, 5)).items.find((i) => i.itemId === 'd');
  t.strictSame(d, { itemId: 'd', score: (model.find((i) => i.itemId === 'd')?.score ?? NaN) + model[0].score });
});

t.test('exploration: at most the share of slots, never the top one, the same picks for the same list', async (t) => {
  const items = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10'].map((itemId, i) => ({ itemId, score: 1 - i / 10 }));
  const pool = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9', 'n10'];
  const mark = (item: ScoredItem) => ({ ...item, promotionName: EXPLORE_PROMOTION });
  t.equal(explorationSlots(10, 0.1), 1);
  t.equal(explorationSlots(10, 0.25), 2);
  t.equal(explorationSlots(5, 0.1), 0);
  t.equal(explorationSlots(10, 0.3), 3, 'no rounding error costs a slot');
  t.strictSame(withExploration(items, 10, pool, 0, 1, 'k', mark), items, 'share 0: the list as it was');
  const explored = withExploration(items, 10, pool, 0.25, 7, 'list-1', mark);
  t.equal(explored.length, 10);
  const picked = explored.filter((i) => 'promotionName' in i);
  t.equal(picked.length, 2);
  t.ok(picked.every((i) => pool.slice(0, 8).includes(i.itemId)), 'drawn from the least exposed candidates');
  t.equal(explored[0].itemId, 'm1');
  t.strictSame(explored.filter((i) => !('promotionName' in i)), items.slice(0, 8), 'the regular items keep their order; the last ones drop off');
  t.strictSame(withExploration(items, 10, pool, 0.25, 7, 'list-1', mark), explored, 'deterministic');
  const others = [1, 2, 3, 4, 5, 6, 8, 9].map((seed) => JSON.stringify(withExploration(items, 10, pool, 0.25, seed, 'list-1', mark)));
  t.ok(others.some((other) => other !== JSON.stringify(explored)), 'another seed picks otherwise');
  t.strictSame(withExploration(items, 10, ['m2', 'n1'], 0.25, 7, 'list-1', mark).filter((i) => 'promotionName' in i).map((i) => i.itemId), ['n1'], 'listed items are not explored');
  const explorerAt = explored.findIndex((i) => 'promotionName' in i);
  t.equal(explored[explorerAt].score, items[explorerAt].score, 'an explored item takes its slot\'s score');
});

t.test('live scores: co-occurrences scaled per item, content at half weight, summed by the history\'s weights, best 1', async (t) => {
  const updates = new LiveUpdates(blend);
  updates.add([
    { from: 'a', to: 'x', weight: 2, at: 0 },
    { from: 'a', to: 'y', weight: 1, at: 0 },
    { from: 'b', to: 'y', weight: 5, at: 0 },
    { from: 'b', to: 'a', weight: 5, at: 0 },
  ]);
  updates.catalogChanged([
    { itemId: 'a', category: 'c', title: '' },
    { itemId: 'z', category: 'c', title: '' },
  ]);
  // a (weight 1): x 1, y 0.5, z 0.5 * 0.5 (same category). b (weight 0.5): y 0.5, a in the history.
  t.strictSame(
    [...liveScores({ itemIds: ['a', 'b'], weights: [1, 0.5] }, updates.content, updates.coOccurrence)],
    [['x', 1], ['y', 1], ['z', 0.25]],
  );
  t.equal(liveScores({ itemIds: ['unknown'], weights: [1] }, updates.content, updates.coOccurrence).size, 0);
});

t.test('--live-weak-below: items the model saw fewer times get their live scores in full, the others keep the model\'s', async (t) => {
  const scorer = await realScorer(t);
  t.equal(scorer.interactionCount('e'), 2);
  t.equal(scorer.interactionCount('a'), 10);
  const updates = new LiveUpdates({ ...blend, weakBelow: 3 });
  const live = updates.scorerFor(scorer);
  updates.add([
    { from: 'a', to: 'e', weight: 1, at: 0 },
    { from: 'a', to: 'd', weight: 1, at: 0 },
  ]);
  const model = (await scorer.scoreOrFallback(onlyA, 5)).items;
  const blended = (await live.scoreOrFallback(onlyA, 5)).items;
  const scoreOf = (items: ScoredItem[], id: string) => items.find((i) => i.itemId === id)?.score;
  t.equal(scoreOf(blended, 'e'), (scoreOf(model, 'e') ?? NaN) + model[0].score, 'e: 2 interactions, weakly known');
  t.equal(scoreOf(blended, 'd'), scoreOf(model, 'd'), 'd: 10 interactions, the model\'s score');
});
