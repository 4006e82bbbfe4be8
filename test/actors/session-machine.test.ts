import t from 'tap';
import { createActor, SimulatedClock } from 'xstate';
import { sessionMachine } from '../../src/actors/session-machine.js';

function start(userId: string | null = null) {
  const clock = new SimulatedClock();
  let now = 0;
  let lastActivityAt = 0;
  const actor = createActor(sessionMachine, {
    clock,
    input: { key: 's:x', userId, lastActivityAt: () => lastActivityAt, now: () => now, idleMs: 100, passivateMs: 50 },
  });
  actor.start();
  return {
    actor,
    advance(ms: number) {
      now += ms;
      clock.increment(ms);
    },
    activity() {
      lastActivityAt = now;
      if (actor.getSnapshot().matches({ live: { activity: 'idle' } })) actor.send({ type: 'TOUCH' });
    },
    value: () => actor.getSnapshot().value,
    status: () => actor.getSnapshot().status,
  };
}

t.test('a busy actor stays active; the idle timer re-arms for the time left', async (t) => {
  const s = start();
  s.advance(60);
  s.activity();
  s.advance(40); // the first timer fires at 100, but the last activity was at 60
  t.strictSame(s.value(), { live: { identity: 'anonymous', activity: 'active' } });
  s.advance(59);
  t.strictSame(s.value(), { live: { identity: 'anonymous', activity: 'active' } });
  s.advance(1); // 100 ms after the last activity
  t.strictSame(s.value(), { live: { identity: 'anonymous', activity: 'idle' } });
});

t.test('idle then quiet passivates; activity while idle wakes it', async (t) => {
  const s = start('alice');
  s.advance(100);
  t.strictSame(s.value(), { live: { identity: 'identified', activity: 'idle' } });
  s.advance(30);
  s.activity();
  t.strictSame(s.value(), { live: { identity: 'identified', activity: 'active' } });
  s.advance(100);
  s.advance(50);
  t.equal(s.status(), 'done');
  t.equal(s.value(), 'passivated');
});

t.test('identify moves an anonymous actor to identified; PASSIVATE ends it at once', async (t) => {
  const s = start();
  s.actor.send({ type: 'IDENTIFY', userId: 'bob' });
  t.strictSame(s.value(), { live: { identity: 'identified', activity: 'active' } });
  t.equal(s.actor.getSnapshot().context.userId, 'bob');
  s.actor.send({ type: 'PASSIVATE' });
  t.equal(s.status(), 'done');
});
