import type { FastifyRequest } from 'fastify';
import type { AttuneConfig } from '../config.js';
import { ApiKeyAuthenticator, type AuthenticationResult } from '../security/api-keys.js';
import { awsCredentialsOfKey } from '../security/aws-credentials.js';
import type { NodeSecrets } from '../security/secrets.js';
import { keyIdOfAccessKey, verifySigV4 as verifyRequestSignature, type SigV4FailureReason } from '../security/sigv4.js';
import { RateLimiter } from '../security/token-bucket.js';
import type { ApiKeyRecord, Stores } from '../store/types.js';
import { actorOf } from '../transport/auth.js';
import type { AuditRecorder } from '../transport/routes/deps.js';

/** Who may call, how often, and the record of what admins did. */
export interface SecurityPart {
  authenticator: ApiKeyAuthenticator;
  /** Requests per API key. */
  keyLimiter: RateLimiter;
  /** Events per session. */
  sessionLimiter: RateLimiter;
  /** The key a SigV4 request names, before its body is read. */
  signer: (request: FastifyRequest) => Promise<AuthenticationResult>;
  /** The signature (which covers the body), then the key's validity and roles. */
  verifySigV4: (request: FastifyRequest) => Promise<AuthenticationResult>;
  awsCredentialsOf: (record: ApiKeyRecord) => { accessKeyId: string; secretAccessKey: string } | null;
  audit: AuditRecorder;
}

/** The access key id in a SigV4 Authorization header. */
const SIGV4_CREDENTIAL = /Credential=([A-Z0-9]{1,64})\//;

/** A failed signature check, as an authentication refusal's reason. */
const SIGV4_REFUSALS: Readonly<Record<SigV4FailureReason, 'missing' | 'malformed' | 'unknown' | 'bad-signature' | 'expired'>> = {
  missing: 'missing',
  malformed: 'malformed',
  'wrong-service': 'malformed',
  'unknown-key': 'unknown',
  'bad-signature': 'bad-signature',
  expired: 'expired',
};

export function createSecurityPart(config: AttuneConfig, secrets: NodeSecrets, stores: Stores): SecurityPart {
  const authenticator = new ApiKeyAuthenticator({ store: stores.apiKeys, masterKey: secrets.masterKey, cacheMs: config.security.keyCacheMs });
  // AWS Signature V4: the access key id names an API key; its secret is derived (src/security/aws-credentials.ts).
  const { sigv4Root } = secrets;
  const signer = async (request: FastifyRequest): Promise<AuthenticationResult> => {
    if (sigv4Root === null) return { ok: false, reason: 'unknown' };
    const keyId = keyIdOfAccessKey(SIGV4_CREDENTIAL.exec(String(request.headers.authorization))?.[1] ?? '');
    return keyId === null ? { ok: false, reason: 'unknown' } : authenticator.principalOf(keyId);
  };
  const verifySigV4 = async (request: FastifyRequest): Promise<AuthenticationResult> => {
    if (sigv4Root === null) return { ok: false, reason: 'unknown' };
    const [rawPath, rawQuery = ''] = request.raw.url?.split(/\?(.*)/s) ?? [''];
    const verified = await verifyRequestSignature(
      { method: request.method, rawPath, rawQuery, headers: request.headers, body: request.rawBody ?? Buffer.alloc(0) },
      {
        service: 'personalize',
        nowMs: Date.now(),
        secretFor: async (accessKeyId) => {
          const record = await authenticator.recordOf(keyIdOfAccessKey(accessKeyId) ?? '');
          return record === null || record.revokedAt !== null ? null : awsCredentialsOfKey(record, sigv4Root).secretAccessKey;
        },
      },
    );
    if (!verified.ok) return { ok: false, reason: SIGV4_REFUSALS[verified.reason] };
    // The signature proves the secret; whether the key is still valid, and its roles, are the record's.
    return authenticator.principalOf(keyIdOfAccessKey(verified.accessKeyId) ?? '');
  };
  const audit: AuditRecorder = async (request, entry) => {
    try {
      await stores.audit.record({ at: Date.now(), actor: actorOf(request), requestId: request.id, ...entry });
    } catch (err) {
      request.log.error({ err, audit: entry }, 'audit entry not recorded');
    }
  };
  return {
    authenticator,
    keyLimiter: new RateLimiter({ perSecond: config.security.rateKeyPerS, burst: config.security.rateKeyBurst }),
    sessionLimiter: new RateLimiter({ perSecond: config.security.rateSessionPerS, burst: config.security.rateSessionBurst }),
    signer,
    verifySigV4,
    awsCredentialsOf: (record) => (sigv4Root === null ? null : awsCredentialsOfKey(record, sigv4Root)),
    audit,
  };
}
