import t from 'tap';
import { commandsPerEvent, parseCommandStats } from '../../scripts/bench-lib/redis-stats.js';

t.test('INFO commandstats lines become calls per command', async (t) => {
  const info = '# Commandstats\r\ncmdstat_xadd:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0\r\ncmdstat_client|setinfo:calls=2,usec=1\r\ncmdstat_get:calls=7,usec=3\r\n';
  t.strictSame(parseCommandStats(info), { xadd: 120, 'client|setinfo': 2, get: 7 });
});

t.test('commands per event: the window difference, snapshot writes counted apart, most frequent first', async (t) => {
  const before = { xadd: 100, evalsha: 100, get: 50, info: 3 };
  // 200 events: 200 appends (script with XREVRANGE and XADD), 100 identity reads, 4 snapshots (each:
  // put script with 2 HGET, DEL, HSET; trim script with XREVRANGE, XTRIM), 10 pushes recorded.
  const after = { xadd: 300, evalsha: 300 + 8, get: 150, info: 4, hget: 8, del: 4, hset: 4, xrevrange: 200 + 4, xtrim: 4, spublish: 10, 'client|setinfo': 5 };
  const result = commandsPerEvent(before, after, 200);
  t.strictSame(result, {
    total: (200 + 208 + 100 + 8 + 4 + 4 + 204 + 4 + 10) / 200,
    excludingSnapshots: (200 + 200 + 200 + 100 + 10) / 200,
    byCommand: { evalsha: 1.04, xrevrange: 1.02, xadd: 1, get: 0.5, spublish: 0.05, hget: 0.04, del: 0.02, hset: 0.02, xtrim: 0.02 },
    idlePerSecond: null,
    eventPath: null,
    eventPathByCommand: null,
  });
  t.equal(commandsPerEvent(before, after, 0), null, 'no events, no ratio');
});

t.test('commands per event on the event path: the idle cluster\'s rate over the window taken out', async (t) => {
  // Idle for 5 s: 50 lease renewals a second (script, HMGET, PEXPIRE) and one heartbeat script a second.
  const idle = { before: { evalsha: 0 }, after: { evalsha: 255, hmget: 250, pexpire: 250, zadd: 5, info: 2 }, seconds: 5 };
  // 10 s under load, 1000 events: the same background plus per event an append script (XREVRANGE, XADD) and a publish.
  const before = { evalsha: 1000, hmget: 900, pexpire: 900, zadd: 10 };
  const after = { evalsha: 1000 + 510 + 1000, hmget: 900 + 500, pexpire: 900 + 500, zadd: 20, xrevrange: 1000, xadd: 1000, spublish: 1000 };
  const result = commandsPerEvent(before, after, 1000, 10, idle);
  t.equal(result?.excludingSnapshots, 5.52);
  t.equal(result?.idlePerSecond, 152);
  t.equal(result?.eventPath, 4, 'the script, XREVRANGE, XADD and the publish');
  t.strictSame(result?.eventPathByCommand, { evalsha: 1, xrevrange: 1, xadd: 1, spublish: 1 });
});
