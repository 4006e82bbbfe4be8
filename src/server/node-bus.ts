import type { ActorHost } from '../actors/actor-host.js';
import type { ConsentGate } from '../privacy/consent-gate.js';
import type { ApiKeyAuthenticator } from '../security/api-keys.js';
import type { NodeBus } from '../store/types.js';

/**
 * What other nodes (and this one) announce: erasures stop live actors, consent changes and
 * revoked keys reach this node's caches at once. Returns the unsubscribe.
 */
export function followNodeBus(
  bus: NodeBus,
  deps: { host: ActorHost; consent: ConsentGate; authenticator: ApiKeyAuthenticator; nodeId: string; rebalanceNow: () => void; onError: (err: unknown, context: string) => void },
): Promise<() => Promise<void>> {
  return bus.subscribe((message) => {
    if (message.type === 'forget') for (const key of message.keys) void deps.host.forget(key).catch((err: unknown) => deps.onError(err, `forget ${key}`));
    else if (message.type === 'consent') deps.consent.update(message.userId, message.optedOut);
    else if (message.type === 'key-revoked') deps.authenticator.forget(message.keyId);
    else if (message.type === 'node-left' && message.nodeId !== deps.nodeId) deps.rebalanceNow();
    // Identity links are followed by the identity store's own cache (src/store/cached-identities.ts).
  });
}
