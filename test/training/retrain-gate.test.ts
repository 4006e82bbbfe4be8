import t from 'tap';
import { GATE_METRIC, gateDecision } from '../../src/training/retrain-gate.js';

t.equal(GATE_METRIC, 'HR@20', 'the gate compares next-click HR@20');

t.test('a gate refuses a deliberately worse candidate', async (t) => {
  const decision = gateDecision({ candidate: { 'HR@20': 0.3, 'MRR@20': 0.1 }, live: { 'HR@20': 0.5, 'MRR@20': 0.2 }, cases: 100, margin: 0.01 });
  t.strictSame(decision, {
    metric: 'HR@20',
    candidate: 0.3,
    live: 0.5,
    delta: 0.3 - 0.5,
    margin: 0.01,
    promote: false,
    reason: 'HR@20 0.3000 vs live 0.5000: worse by 0.2000, more than the margin 0.01',
  });
});

t.test('a better or equal candidate is promoted', async (t) => {
  t.strictSame(gateDecision({ candidate: { 'HR@20': 0.6 }, live: { 'HR@20': 0.5 }, cases: 10, margin: 0.01 }), {
    metric: 'HR@20',
    candidate: 0.6,
    live: 0.5,
    delta: 0.6 - 0.5,
    margin: 0.01,
    promote: true,
    reason: 'HR@20 0.6000 vs live 0.5000: not worse by more than 0.01',
  });
  t.equal(gateDecision({ candidate: { 'HR@20': 0.5 }, live: { 'HR@20': 0.5 }, cases: 10, margin: 0 }).promote, true, 'equal passes a zero margin');
});

t.test('the margin is absolute and its boundary passes', async (t) => {
  t.equal(gateDecision({ candidate: { 'HR@20': 0.49 }, live: { 'HR@20': 0.5 }, cases: 10, margin: 0.01 }).promote, true, 'exactly the margin lower: promoted');
  t.equal(gateDecision({ candidate: { 'HR@20': 0.4899 }, live: { 'HR@20': 0.5 }, cases: 10, margin: 0.01 }).promote, false, 'just beyond the margin: refused');
  t.equal(gateDecision({ candidate: { 'HR@20': 0.499 }, live: { 'HR@20': 0.5 }, cases: 10, margin: 0 }).promote, false, 'a zero margin refuses any loss');
});

t.test('another gate metric can be named', async (t) => {
  const decision = gateDecision({ candidate: { 'HR@20': 0.9, 'MRR@20': 0.1 }, live: { 'HR@20': 0.5, 'MRR@20': 0.3 }, cases: 10, margin: 0.01, metric: 'MRR@20' });
  t.match(decision, { metric: 'MRR@20', promote: false, candidate: 0.1, live: 0.3 });
});

t.test('no held-out cases: refused, whatever the numbers', async (t) => {
  t.strictSame(gateDecision({ candidate: { 'HR@20': 0 }, live: { 'HR@20': 0 }, cases: 0, margin: 0.01 }), {
    metric: 'HR@20',
    candidate: 0,
    live: 0,
    delta: 0,
    margin: 0.01,
    promote: false,
    reason: 'no held-out cases: nothing to compare the models on',
  });
});

t.test('bad input throws', async (t) => {
  t.throws(() => gateDecision({ candidate: {}, live: { 'HR@20': 0.5 }, cases: 1, margin: 0.01 }), /candidate has none/);
  t.throws(() => gateDecision({ candidate: { 'HR@20': 0.5 }, live: { 'HR@20': 0.5 }, cases: 1, margin: -0.1 }), RangeError);
  t.throws(() => gateDecision({ candidate: { 'HR@20': 0.5 }, live: { 'HR@20': 0.5 }, cases: 1, margin: Number.NaN }), RangeError);
});
