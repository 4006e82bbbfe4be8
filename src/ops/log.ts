import { pino, type Logger } from 'pino';
import type { AttuneConfig } from '../config.js';

/**
 * The node's JSON log, made before anything that may report to it; the HTTP app logs through
 * it too. Null when the level is `silent`: nothing is written.
 */
export function createNodeLogger(level: AttuneConfig['logLevel']): Logger | null {
  if (level === 'silent') return null;
  return pino({ level, serializers: { req: (request: { method: string; url: string; ip?: string }) => ({ method: request.method, url: redactUserIds(request.url), remoteAddress: request.ip }) } });
}

/** A request's URL as logged: user ids, in a path or a query, never reach a log line. */
export function redactUserIds(url: string): string {
  return url.replace(/(\/users\/)[^/?#]+/g, '$1~').replace(/([?&]userId=)[^&#]*/g, '$1~');
}
