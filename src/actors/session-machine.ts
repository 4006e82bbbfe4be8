import { assign, setup } from 'xstate';
import type { LogEntry } from './events.js';
import { reduce, type ReducerConfig, type SessionState } from './state.js';

export interface SessionContext {
  key: string;
  userId: string | null;
  state: SessionState;
}

export interface SessionInput {
  key: string;
  userId: string | null;
  state: SessionState;
}

/** APPLY carries the reducer settings of the model being served, which a hot swap may change. */
export type SessionMachineEvent = { type: 'APPLY'; entry: LogEntry; reducer: ReducerConfig } | { type: 'IDENTIFY'; userId: string } | { type: 'PASSIVATE' };

/**
 * The lifecycle of one live session or user around the pure reducer: xstate owns when an actor
 * is active, idle or done; `reduce` owns what its state is. The `done` status is the host's cue
 * to snapshot and drop it.
 */
export function createSessionMachine(idleMs: number, passivateMs: number) {
  return setup({
    types: {
      context: {} as SessionContext,
      input: {} as SessionInput,
      events: {} as SessionMachineEvent,
    },
    actions: {
      apply: assign({
        state: ({ context, event }) => (event.type === 'APPLY' ? reduce(context.state, event.entry, event.reducer) : context.state),
      }),
      identify: assign({
        userId: ({ context, event }) => (event.type === 'IDENTIFY' ? event.userId : context.userId),
      }),
    },
    guards: {
      isUser: ({ context }) => context.userId !== null,
    },
    delays: { idle: idleMs, passivate: passivateMs },
  }).createMachine({
    id: 'session',
    context: ({ input }) => ({ key: input.key, userId: input.userId, state: input.state }),
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
              anonymous: { on: { IDENTIFY: { target: 'identified', actions: 'identify' } } },
              identified: {},
            },
          },
          activity: {
            initial: 'active',
            states: {
              active: {
                after: { idle: 'idle' },
                on: { APPLY: { target: 'active', reenter: true, actions: 'apply' } },
              },
              idle: {
                after: { passivate: '#session.passivated' },
                on: { APPLY: { target: 'active', actions: 'apply' } },
              },
            },
          },
        },
      },
      passivated: { type: 'final' },
    },
  });
}

export type SessionMachine = ReturnType<typeof createSessionMachine>;
