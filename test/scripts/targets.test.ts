import t from 'tap';
import { describeChecks, scaleOutVerdict, type ScaleOutMeasures } from '../../scripts/bench-lib/targets.js';

const passing: ScaleOutMeasures = { achievedRate: 500, crossNodeP99Ms: 9.5, clusterCpuMsPerEvent: 0.9, singleCpuMsPerEvent: 0.6, echoCpuMsPerEvent: 0.3, commandsPerEvent: 2, failedEvents: 0 };

t.test('every target met: the verdict says so, check by check', async (t) => {
  const verdict = scaleOutVerdict(passing);
  t.equal(verdict.met, true);
  t.strictSame(
    verdict.checks.map((c) => [c.value, c.op, c.limit, c.met]),
    [
      [500, '>=', 495, true],
      [9.5, '<=', 10, true],
      [1.5, '<=', 1.5, true],
      [2, '<=', 2, true],
      [2, '<=', 2, true],
      [0, '<=', 0, true],
    ],
  );
});

t.test('one target missed, or a figure not measured: not met, and the line names it', async (t) => {
  const slow = scaleOutVerdict({ ...passing, crossNodeP99Ms: 20.3 });
  t.equal(slow.met, false);
  t.strictSame(slow.checks.filter((c) => !c.met).map((c) => c.what), ['cross-node event-to-push p99 (ms)']);
  t.match(describeChecks(slow), /cross-node event-to-push p99 \(ms\) 20\.3 NOT <= 10/);
  const noEcho = scaleOutVerdict({ ...passing, echoCpuMsPerEvent: null });
  t.strictSame(noEcho.checks.filter((c) => !c.met).map((c) => [c.what, c.value]), [['single node CPU per event / echo server CPU per event', null]]);
  t.equal(scaleOutVerdict({ ...passing, achievedRate: 400 }).met, false, 'a cluster that could not keep the rate');
  t.equal(scaleOutVerdict({ ...passing, failedEvents: 1 }).met, false);
});
