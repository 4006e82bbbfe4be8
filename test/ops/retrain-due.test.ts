import t from 'tap';
import { dueTrigger } from '../../src/ops/retrain-jobs.js';

const DAY = 86_400_000;

t.test('a run is due a period after the last one, or after enough events; either is off at 0', async (t) => {
  const base = { lastRunAt: 1000, eventsSinceRun: 0, everyMs: 7 * DAY, afterEvents: 0 };
  t.equal(dueTrigger({ ...base, now: 1000 + 7 * DAY - 1 }), null);
  t.equal(dueTrigger({ ...base, now: 1000 + 7 * DAY }), 'schedule');
  t.equal(dueTrigger({ ...base, now: 1000 + 70 * DAY, everyMs: 0 }), null, 'no schedule');
  t.equal(dueTrigger({ ...base, now: 1000, eventsSinceRun: 1_000_000 }), null, 'events do not count while --retrain-after-events is 0');
  t.equal(dueTrigger({ ...base, now: 1000, afterEvents: 500, eventsSinceRun: 499 }), null);
  t.equal(dueTrigger({ ...base, now: 1000, afterEvents: 500, eventsSinceRun: 500 }), 'events');
  t.equal(dueTrigger({ ...base, now: 1000 + 7 * DAY, afterEvents: 500, eventsSinceRun: 500 }), 'events', 'both due: the events say why');
});
