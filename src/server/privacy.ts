import type { AttuneConfig } from '../config.js';
import { ConsentGate } from '../privacy/consent-gate.js';
import { Pseudonyms } from '../privacy/pseudonyms.js';
import { UserErasure } from '../privacy/user-erasure.js';
import type { Stores } from '../store/types.js';

/** Pseudonyms at the edge, consent per user, and erasure jobs. */
export interface PrivacyPart {
  pseudonyms: Pseudonyms;
  consent: ConsentGate;
  erasure: UserErasure;
}

export interface PrivacyDeps {
  config: AttuneConfig;
  pseudonymKey: string;
  stores: Stores;
  /** Drops the cached lists of erased keys. */
  forgetCached: (keys: readonly string[]) => Promise<void>;
  onError: (err: unknown, context: string) => void;
}

export function createPrivacyPart(deps: PrivacyDeps): PrivacyPart {
  return {
    pseudonyms: new Pseudonyms(deps.pseudonymKey),
    consent: new ConsentGate(deps.stores.consent),
    erasure: new UserErasure({ stores: deps.stores, graceMs: deps.config.security.deletionGraceMs, forgetCached: deps.forgetCached, onError: deps.onError }),
  };
}
