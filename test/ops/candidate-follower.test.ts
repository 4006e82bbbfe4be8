import t, { type Test } from 'tap';
import { CandidateFollower, newestCandidate, type CandidateArm } from '../../src/ops/candidate-follower.js';
import { createMemoryStores } from '../../src/store/memory.js';
import type { ModelEntry } from '../../src/store/types.js';
import { waitFor } from '../helpers.js';
import { newEntry } from '../store/models-conformance.js';

/** An arm that records what it is told; a dir listed in `broken` fails to load. */
function recordingArm(broken: ReadonlySet<string> = new Set()) {
  const calls: string[] = [];
  const arm: { -readonly [K in keyof CandidateArm]: CandidateArm[K] } & { calls: string[] } = {
    calls,
    candidateVersion: null,
    async setCandidate(dir: string, version?: string) {
      calls.push(`set ${dir} ${version ?? '-'}`);
      if (broken.has(dir)) {
        arm.candidateVersion = null;
        throw new Error(`cannot load ${dir}`);
      }
      arm.candidateVersion = version ?? null;
    },
    async clearCandidate() {
      calls.push('clear');
      arm.candidateVersion = null;
    },
  };
  return arm;
}

function followerOf(t: Test, arm: CandidateArm, clock = { now: 0 }) {
  const stores = createMemoryStores();
  const changes: Array<string | null> = [];
  const failures: string[] = [];
  const follower = new CandidateFollower({
    registry: stores.models,
    bus: stores.bus,
    arm,
    pollMs: 60_000,
    now: () => clock.now,
    retryFailedMs: 1000,
    onChanged: (version) => changes.push(version),
    onLoadFailed: (entry) => failures.push(entry.version),
    onError: (err) => t.error(err),
  });
  t.teardown(() => follower.stop());
  return { stores, follower, changes, failures };
}

t.test('newestCandidate: the candidate registered last; live and retired ones do not count', async (t) => {
  const entry = (version: string, state: ModelEntry['state'], registeredAt: number): ModelEntry => ({ ...newEntry(version, registeredAt), state, promotedAt: null, retiredAt: null, previousLive: null });
  t.equal(newestCandidate([]), null);
  t.equal(newestCandidate([entry('a', 'live', 1), entry('b', 'retired', 3)]), null);
  t.equal(newestCandidate([entry('a', 'candidate', 1), entry('b', 'candidate', 2), entry('c', 'retired', 3), entry('d', 'live', 4)])?.version, 'b');
});

t.test('the arm follows the newest candidate, and ends when it is promoted or retired', async (t) => {
  const arm = recordingArm();
  const { stores, follower, changes } = followerOf(t, arm);
  await follower.start();
  t.strictSame(arm.calls, [], 'no candidate registered: nothing to do');
  await stores.models.register({ ...newEntry('m-a', 1000), dir: '/models/a' });
  await stores.models.register({ ...newEntry('m-b', 2000), dir: '/models/b' });
  await follower.sync();
  t.strictSame(arm.calls, ['set /models/b m-b'], 'the newest one');
  await follower.sync();
  t.equal(arm.calls.length, 1, 'a check with nothing new changes nothing');
  await stores.models.retire('m-b', 3000);
  await follower.sync();
  t.strictSame(arm.calls.slice(1), ['set /models/a m-a'], 'm-b retired: the newest candidate left is m-a');
  await stores.models.promote('m-a', 4000);
  await follower.sync();
  t.strictSame(arm.calls.slice(2), ['clear'], 'm-a promoted: no candidate, the experiment ends');
  t.strictSame(changes, ['m-b', 'm-a', null]);
});

t.test('a candidate that does not load is reported and tried again only after retryFailedMs; a newer one at once', async (t) => {
  const arm = recordingArm(new Set(['/models/broken']));
  const clock = { now: 0 };
  const { stores, follower, failures } = followerOf(t, arm, clock);
  await stores.models.register({ ...newEntry('m-broken', 1000), dir: '/models/broken' });
  await follower.start();
  t.strictSame([arm.calls, failures, arm.candidateVersion], [['set /models/broken m-broken'], ['m-broken'], null]);
  clock.now = 999;
  await follower.sync();
  t.equal(arm.calls.length, 1, 'not again within the retry interval');
  clock.now = 1000;
  await follower.sync();
  t.equal(arm.calls.length, 2, 'again after it');
  await stores.models.register({ ...newEntry('m-next', 2000), dir: '/models/next' });
  await follower.sync();
  t.strictSame([arm.calls.at(-1), arm.candidateVersion], ['set /models/next m-next', 'm-next']);
});

t.test('a change announced on the node bus is followed without waiting for the poll', async (t) => {
  const arm = recordingArm();
  const { stores, follower } = followerOf(t, arm);
  await follower.start();
  await stores.models.register({ ...newEntry('m-a', 1000), dir: '/models/a' });
  await stores.bus.publish({ type: 'models-changed', live: null });
  await waitFor('the announced candidate followed', () => arm.candidateVersion === 'm-a');
  t.strictSame(arm.calls, ['set /models/a m-a']);
});
