import { userKey } from '../session/events.js';

/** Who a list or a replay is for, as a request names them: a session, a user (a pseudonym), both, or neither. */
export interface Visitor {
  sessionId?: string;
  userId?: string;
}

/** The actor key a visitor names: a userId wins; a sessionId follows its identification; null for neither. */
export async function keyFor(visitor: Visitor, resolve: (sessionId: string) => Promise<string>): Promise<string | null> {
  if (visitor.userId !== undefined) return userKey(visitor.userId);
  if (visitor.sessionId !== undefined) return resolve(visitor.sessionId);
  return null;
}

export function isAnonymous(visitor: Visitor): boolean {
  return visitor.sessionId === undefined && visitor.userId === undefined;
}
