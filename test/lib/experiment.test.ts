import t from 'tap';
import { armOf, bucketOf, parseExperiment, SPLIT_BUCKETS } from '../../src/lib/experiment.js';

const USERS = Array.from({ length: 10_000 }, (_, i) => `u:user-${i}`);

function candidateShareOf(keys: readonly string[], salt: string, share: number): number {
  return keys.filter((key) => armOf(key, salt, share) === 'candidate').length / keys.length;
}

t.test('over 10,000 users the split is within 1 percentage point of the asked share (issue 13)', async (t) => {
  // The hash splits like a fair coin per key: at 10% the share's standard deviation over 10,000
  // keys is 0.3 points (1 point is 3.3 of them), at 50% it is 0.5. These salts are fixed, so the
  // result is too.
  for (const share of [0.01, 0.1, 0.25, 0.5, 0.9]) {
    for (const salt of ['model-a', 'item-item-7f3c']) {
      const got = candidateShareOf(USERS, salt, share);
      t.ok(Math.abs(got - share) <= 0.01, `asked ${share * 100}%, salt "${salt}": got ${(got * 100).toFixed(2)}%`);
    }
  }
  // Anonymous sessions are keyed by their session id: random-looking ids split as evenly.
  const sessions = Array.from({ length: 10_000 }, (_, i) => `s:${(i * 2654435761 >>> 0).toString(36)}-${i}`);
  const got = candidateShareOf(sessions, 'model-a', 0.1);
  t.ok(Math.abs(got - 0.1) <= 0.01, `sessions at 10%: got ${(got * 100).toFixed(2)}%`);
});

t.test('a key keeps its arm: the same for the same key and salt, whatever else was asked before', async (t) => {
  const first = USERS.map((key) => armOf(key, 'model-a', 0.1));
  const again = [...USERS].reverse().map((key) => armOf(key, 'model-a', 0.1)).reverse();
  t.strictSame(again, first);
  // A larger share keeps every candidate key a candidate: it only adds keys.
  const wider = USERS.map((key) => armOf(key, 'model-a', 0.2));
  t.ok(first.every((arm, i) => arm === 'live' || wider[i] === 'candidate'), 'raising the share moves no candidate back to live');
  t.equal(bucketOf('u:user-1', 'model-a'), bucketOf('u:user-1', 'model-a'));
});

t.test('a new salt draws an independent split', async (t) => {
  const a = USERS.map((key) => armOf(key, 'model-a', 0.5));
  const b = USERS.map((key) => armOf(key, 'model-b', 0.5));
  const same = a.filter((arm, i) => arm === b[i]).length / USERS.length;
  t.ok(Math.abs(same - 0.5) <= 0.02, `half the keys keep their arm, by chance: ${(same * 100).toFixed(2)}%`);
});

t.test('the ends of the range: 0% serves everyone live, 100% everyone the candidate', async (t) => {
  t.equal(candidateShareOf(USERS, 'model-a', 0), 0);
  t.equal(candidateShareOf(USERS, 'model-a', 1), 1);
  const buckets = new Set(USERS.map((key) => bucketOf(key, 'model-a')));
  t.ok([...buckets].every((b) => Number.isInteger(b) && b >= 0 && b < SPLIT_BUCKETS));
});

t.test('parseExperiment reads candidate=N% and says what is wrong otherwise', async (t) => {
  t.strictSame(parseExperiment('candidate=10%'), { candidateShare: 0.1 });
  t.strictSame(parseExperiment('candidate=0.5%'), { candidateShare: 0.005 });
  t.strictSame(parseExperiment('candidate=100%'), { candidateShare: 1 });
  t.strictSame(parseExperiment('candidate=0%'), { candidateShare: 0 });
  t.strictSame(parseExperiment(' candidate=12.34% '), { candidateShare: 0.1234 });
  for (const bad of ['candidate=10', '10%', 'candidate=-5%', 'candidate=1.234%', 'live=10%', 'candidate=%', 'candidate=ten%']) {
    t.match(parseExperiment(bad), { error: /must be candidate=N%/ }, bad);
  }
  t.strictSame(parseExperiment('candidate=101%'), { error: 'must give the candidate at most 100%' });
});
