import { assign, setup } from 'xstate';

export interface SessionContext {
  key: string;
  userId: string | null;
  /** When the actor last applied an event (epoch ms); read when a timer fires, not kept per event. */
  lastActivityAt: () => number;
  now: () => number;
  idleMs: number;
  passivateMs: number;
}

export type SessionInput = SessionContext;

export type SessionMachineEvent = { type: 'TOUCH' } | { type: 'IDENTIFY'; userId: string } | { type: 'PASSIVATE' };

/**
 * The lifecycle of one live session or user: xstate owns when an actor is active, idle or done;
 * the pure reducer owns what its state is. Events do not pass through the machine: the idle timer
 * re-arms itself for the time left since the last activity, so a busy actor costs one timer per
 * idle period rather than one per event. The `done` status is the host's cue to snapshot and
 * drop it.
 */
export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    input: {} as SessionInput,
    events: {} as SessionMachineEvent,
  },
  guards: {
    isUser: ({ context }) => context.userId !== null,
    quietLongEnough: ({ context }) => context.now() - context.lastActivityAt() >= context.idleMs,
  },
  delays: {
    idle: ({ context }) => Math.max(1, context.idleMs - (context.now() - context.lastActivityAt())),
    passivate: ({ context }) => context.passivateMs,
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => input,
  initial: 'live',
  states: {
    live: {
      type: 'parallel',
      on: { PASSIVATE: '#session.passivated' },
      states: {
        identity: {
          initial: 'resolving',
          states: {
            resolving: { always: [{ guard: 'isUser', target: 'identified' }, { target: 'anonymous' }] },
            anonymous: {
              on: {
                IDENTIFY: { target: 'identified', actions: assign({ userId: ({ event }) => event.userId }) },
              },
            },
            identified: {},
          },
        },
        activity: {
          initial: 'active',
          states: {
            active: {
              after: {
                idle: [{ guard: 'quietLongEnough', target: 'idle' }, { target: 'active', reenter: true }],
              },
            },
            idle: {
              after: { passivate: '#session.passivated' },
              on: { TOUCH: 'active' },
            },
          },
        },
      },
    },
    passivated: { type: 'final' },
  },
});

export type SessionMachine = typeof sessionMachine;
