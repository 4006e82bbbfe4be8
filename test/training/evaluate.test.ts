import t from 'tap';
import { defaultReducerConfig, itemWeights } from '../../src/session/state.js';
import type { Interaction } from '../../src/model/types.js';
import { replayPrefixes, trainingPart } from '../../src/training/eval-cases.js';
import { evaluateLeaveOneOut, leaveOneOutGroups } from '../../src/training/leave-one-out.js';
import { evaluateSessionsReport, sessionGroups } from '../../src/training/session-protocol.js';
import { popularityMetrics, popularityOrder } from '../../src/training/popularity-baseline.js';
import { metricsWithScorer, withScorer } from '../../src/training/serving-path.js';
import type { TrainedModel } from '../../src/training/trained-model.js';
import { TUNING_START, fitTuned, reducerFor } from '../../src/training/tuning.js';
import { significantlyBetter } from '../../src/training/tuning-objective.js';
import { encodeCases, evaluateTwin } from '../../src/training/twin-scoring.js';
import { LEAVE_ONE_OUT_METRICS, SESSION_METRICS } from '../../src/training/eval-metrics.js';
import { prepareInteractions, resolveParams, userHistories } from '../../src/training/trainer.js';
import { seededRandom } from '../../src/lib/random.js';
import { syntheticInteractions } from '../../src/training/synthetic.js';
import { S3REC_EPOCH_MS } from '../../src/training/datasets.js';

const CYCLE = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

/**
 * Every user walks the same 8-item cycle for 6 steps from their own starting point, so the next
 * item is always the successor of the last one, never an item of the history: the model must
 * rank it first (HR@1 = 1, MRR = 1) for validation and test alike.
 */
function cycleData(users: number): Interaction[] {
  const out: Interaction[] = [];
  for (let u = 0; u < users; u++) {
    for (let s = 0; s < 6; s++) {
      out.push({ userId: `u${u}`, itemId: CYCLE[(u + s) % 8], timestamp: S3REC_EPOCH_MS + s * 60_000, eventType: 'view' });
    }
  }
  return out;
}

t.test('leave-one-out end to end: a known right answer is ranked first', async (t) => {
  const messages: string[] = [];
  const report = await evaluateLeaveOneOut(cycleData(40), { tuneHalfLife: false, embeddings: false, dataset: 'cycle', log: (m) => messages.push(m) });
  t.equal(report.dataset, 'cycle');
  t.equal(report.users, 40);
  t.equal(report.items, 8);
  t.equal(report.interactions, 240);
  t.equal(report.metrics['MRR@25'], 1, 'test: the successor ranks first for every user (HR@1 = 1)');
  t.equal(report.metrics['HR@5'], 1);
  t.equal(report.metrics['NDCG@10'], 1);
  t.equal(report.validation['MRR@25'], 1, 'validation too');
  // Every user's test target is the successor; with 8 starting points the top-10 lists hold all 8 items.
  t.equal(report.metrics['Coverage@10'], 1);
  t.ok(report.baseline.popularity['MRR@25'] < 0.9, `popularity cannot know the successor (${report.baseline.popularity['MRR@25']})`);
  t.ok(report.trainSeconds >= 0 && report.evaluateSeconds >= 0);
  t.match(report.reducer, { halfLifeMs: 365 * 24 * 3600 * 1000, itemWeightsMax: 50 });
  t.ok(messages.some((m) => m.startsWith('tuning: start')), 'progress is reported');
});

t.test('with embeddings the right answer still ranks first', async (t) => {
  const report = await evaluateLeaveOneOut(cycleData(40), { tuneHalfLife: false, embeddings: true, embeddingParams: { epochs: 3, dim: 8, negatives: 4, batch: 16 } });
  t.equal(report.metrics['MRR@25'], 1);
});

t.test('splits: leave-one-out and session cases', async (t) => {
  const histories = userHistories([
    { userId: 'u2', itemId: 'x', timestamp: 5, eventType: 'view' },
    { userId: 'u1', itemId: 'b', timestamp: 2, eventType: 'view' },
    { userId: 'u1', itemId: 'a', timestamp: 1, eventType: 'view' },
    { userId: 'u1', itemId: 'c', timestamp: 3, eventType: 'view' },
    { userId: 'u2', itemId: 'y', timestamp: 6, eventType: 'view' },
  ]);
  t.strictSame(histories.map((h) => [h.userId, h.events.map((x) => x.itemId)]), [['u1', ['a', 'b', 'c']], ['u2', ['x', 'y']]]);
  t.strictSame(trainingPart(histories, 2).map((x) => x.itemId), ['a']);
  t.strictSame(leaveOneOutGroups(histories, 1).map((g) => [g.userId, g.prefixes]), [['u1', [2]], ['u2', [1]]], 'test: history all but the last');
  t.strictSame(leaveOneOutGroups(histories, 2).map((g) => [g.userId, g.prefixes]), [['u1', [1]]], 'validation: u2 would have no history');
  t.strictSame(sessionGroups(histories).map((g) => [g.userId, g.prefixes]), [['u1', [1, 2]], ['u2', [1]]]);
  const seen: [number, string[]][] = [];
  replayPrefixes({ userId: 'u1', events: histories[0].events, prefixes: [1, 2] }, defaultReducerConfig, (index, state) =>
    seen.push([index, itemWeights(state).map(([id]) => id)]),
  );
  t.strictSame(seen, [[0, ['a']], [1, ['b', 'a']]], 'heaviest (latest) first');
});

t.test('popularity baseline: training counts, history excluded', async (t) => {
  const train: Interaction[] = ['p', 'p', 'p', 'q', 'q', 'r'].map((itemId, n) => ({ userId: `t${n}`, itemId, timestamp: n, eventType: 'view' }));
  t.strictSame(popularityOrder(train, ['s', 'a']), ['p', 'q', 'r', 'a', 's']);
  const events = (ids: string[]): Interaction[] => ids.map((itemId, n) => ({ userId: 'u', itemId, timestamp: n, eventType: 'view' }));
  // Case 1: history [p], target q -> list q r a s... rank 1. Case 2: history [r], target p -> rank 1.
  // Case 3: history [q], target s -> list p r a s -> rank 4.
  const groups = [
    { userId: 'u', events: events(['p', 'q']), prefixes: [1] },
    { userId: 'v', events: events(['r', 'p']), prefixes: [1] },
    { userId: 'w', events: events(['q', 's']), prefixes: [1] },
  ];
  const spec = { hr: [1, 4], ndcg: [4], mrr: [4], coverage: [1] };
  const metrics = popularityMetrics(popularityOrder(train, ['s', 'a']), groups, spec, true, 5);
  t.strictSame(metrics, {
    'HR@1': 2 / 3,
    'HR@4': 1,
    'NDCG@4': (1 + 1 + 1 / Math.log2(5)) / 3,
    'MRR@4': (1 + 1 + 1 / 4) / 3,
    'Coverage@1': 2 / 5,
  });
  const notExcluded = popularityMetrics(popularityOrder(train, ['s', 'a']), groups, spec, false, 5);
  t.equal(notExcluded['HR@1'], 1 / 3, 'without exclusion only case 2 hits first');
});

t.test('the tuning twin gives the serving path its exact metrics', async (t) => {
  const data = syntheticInteractions({ interactions: 4000, items: 150, users: 200, clusters: 8, seed: 21 });
  const histories = userHistories(data);
  const catalog = [...new Set(data.map((x) => x.itemId))].sort();
  const prepared = prepareInteractions(trainingPart(histories, 2), catalog);
  const settings = {
    ...TUNING_START,
    params: resolveParams({ ...TUNING_START.params, window: 3 }),
    longTerm: { ...TUNING_START.longTerm, blend: 0.5, exponent: 0.3 },
    positionDecay: 0.7,
    halfLifeMs: 3 * 3600_000,
    historyLength: 12,
  };
  const reducer = reducerFor(defaultReducerConfig, settings);
  const model = fitTuned(prepared, settings);
  const trained: TrainedModel = {
    model,
    reducer,
    historyLength: 12,
    settings,
    blend: null,
    tuningMetrics: {},
    embedding: null,
    validationModel: model,
    trials: 0,
    seconds: 0,
  };
  for (const [protocol, groups, exclude] of [
    ['leave-one-out', leaveOneOutGroups(histories, 1), true],
    ['sessions', sessionGroups(histories.slice(0, 40)), false],
  ] as const) {
    const spec = protocol === 'sessions' ? SESSION_METRICS : { ...LEAVE_ONE_OUT_METRICS, coverage: [] };
    const served = await withScorer(trained, (scorer) => metricsWithScorer(scorer, groups, reducer, spec, exclude, catalog.length));
    const twin = evaluateTwin(model, encodeCases(groups, reducer, 12, prepared.indexOf, catalog.length, exclude), spec);
    for (const name of Object.keys(twin)) t.ok(Math.abs(twin[name] - served[name]) < 1e-12, `${protocol} ${name}: twin ${twin[name]} = served ${served[name]}`);
    t.ok(served[protocol === 'sessions' ? 'HR@20' : 'HR@10'] > 0, `${protocol}: the model finds something`);
  }
});

t.test('significantlyBetter: paired, needs more than noise', async (t) => {
  const base = Float64Array.from({ length: 100 }, (_, c) => (c % 3 === 0 ? 1 : 0));
  t.notOk(significantlyBetter(base, base, 0.5), 'equal');
  const oneMore = base.slice();
  oneMore[1] = 1;
  t.notOk(significantlyBetter(oneMore, base, 1), 'one case of a hundred is not 1 SE');
  const many = base.map((v, c) => (c % 3 === 1 ? 1 : v));
  t.ok(significantlyBetter(many, base, 1));
  t.notOk(significantlyBetter(base, many, 0), 'worse is never better');
});

t.test('sessions report: ours beside reference lists on the same cases', async (t) => {
  const random = seededRandom(5);
  const session = (id: string, start: number, length: number, base: number): Interaction[] =>
    Array.from({ length }, (_, p) => ({ userId: id, itemId: `i${(base + p) % 12}`, timestamp: start + p * 30_000, eventType: 'click' }));
  const train: Interaction[] = [];
  for (let s = 0; s < 120; s++) train.push(...session(`t${s}`, s * 1000_000, 3 + (s % 3), Math.floor(random() * 12)));
  const test = [...session('x', 9e9, 4, 0), ...session('y', 9e9, 3, 5)];
  // Reference rows: x after clicks 1 and 2 (Positions 0, 1), y after click 1; one row for an unknown session.
  const report = await evaluateSessionsReport(
    train,
    test,
    [
      {
        name: 'perfect',
        rows: [
          { sessionId: 'x', position: 0, items: ['i1'] },
          { sessionId: 'x', position: 1, items: ['i0', 'i2'] },
          { sessionId: 'y', position: 0, items: ['i9'] },
          { sessionId: 'zz', position: 0, items: ['i1'] },
        ],
      },
    ],
    { tuneHalfLife: true, embeddings: false, dataset: 'tiny' },
  );
  t.equal(report.cases, 5, 'x has 3 next-click cases, y 2');
  t.strictSame(report.references.perfect.metrics, { 'HR@20': 2 / 3, 'MRR@20': (1 + 0.5) / 3 });
  t.equal(report.references.perfect.cases, 3);
  t.equal(report.references.perfect.unmatched, 1);
  t.equal(report.oursOnSharedCases.cases, 3);
  t.ok(report.metrics['HR@20'] > 0.9, `the successor is within the top 20 of 12 items (${report.metrics['HR@20']})`);
});
