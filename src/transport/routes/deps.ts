import type { ActorHost } from '../../actors/actor-host.js';
import type { ListCache } from '../../cache/list-cache.js';
import type { AttuneConfig } from '../../config.js';
import type { CatalogIndex } from '../../model/catalog.js';
import type { ItemTrends } from '../../model/item-trends.js';
import type { ModelArms } from '../../model/model-arms.js';
import type { ModelSlot } from '../../model/model-slot.js';
import type { Segmenter } from '../../model/segmenter.js';
import type { ImportJobs } from '../../ops/import-jobs.js';
import type { Metrics } from '../../ops/metrics.js';
import type { ModelAdmin } from '../../ops/model-admin.js';
import type { FollowStatus } from '../../ops/model-follower.js';
import type { OnlineMetrics } from '../../ops/online-metrics.js';
import type { RetrainJobs } from '../../ops/retrain-jobs.js';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { ConsentGate } from '../../privacy/consent-gate.js';
import type { Pseudonyms } from '../../privacy/pseudonyms.js';
import type { UserErasure } from '../../privacy/user-erasure.js';
import type { ApiKeyAuthenticator, AuthenticationResult } from '../../security/api-keys.js';
import type { RateLimiter } from '../../security/token-bucket.js';
import type { Ingest, Recommendations } from '../../serving/index.js';
import type { ApiKeyRecord, AuditEntry, CatalogStore, Stores } from '../../store/types.js';

/** Records an admin action with the request's key as actor; a failure to record is logged, not thrown. */
export type AuditRecorder = (request: FastifyRequest, entry: Pick<AuditEntry, 'action' | 'target' | 'outcome' | 'detail'>) => Promise<void>;

/** What the HTTP routes use of the node. */
export interface HttpDeps {
  config: AttuneConfig;
  host: ActorHost;
  catalog: CatalogIndex;
  catalogStore: CatalogStore;
  /** The log and the recorded pushes (replay), keys, the audit log, consent and the node bus. */
  stores: Pick<Stores, 'log' | 'pushes' | 'apiKeys' | 'audit' | 'consent' | 'bus' | 'filters' | 'users'>;
  authenticator: ApiKeyAuthenticator;
  /** AWS Signature V4 requests (the Personalize-compatible API): the key named, then the signature (src/transport/auth.ts). */
  signer: (request: FastifyRequest) => Promise<AuthenticationResult>;
  verifySigV4: (request: FastifyRequest) => Promise<AuthenticationResult>;
  /** The AWS credentials of an API key; null when SigV4 is off (no --sigv4-secret on shared stores). */
  awsCredentialsOf: (record: ApiKeyRecord) => { accessKeyId: string; secretAccessKey: string } | null;
  /** Requests per API key. */
  keyLimiter: RateLimiter;
  /** Where events come in (rate limit, consent, the log). */
  ingest: Ingest;
  /** Where lists are looked up (key, consent, live actor, state or cache). */
  recommendations: Recommendations;
  /** User ids become pseudonyms before any route sees them. */
  pseudonyms: Pseudonyms;
  consent: ConsentGate;
  erasure: UserErasure;
  /** Signs the socket tokens POST /v1/tokens hands out. */
  tokenSecret: string;
  audit: AuditRecorder;
  model: ModelSlot;
  /** The models by experiment arm (GET /v1/admin/experiment, /readyz). */
  arms: ModelArms;
  /** The model registry's admin operations (each announced to every node). */
  modelAdmin: ModelAdmin;
  /** This node following the registry's live version: whether it serves it, and a check now. */
  modelFollower: { status(): FollowStatus; sync(): Promise<void> };
  trends: ItemTrends;
  segmenter: Segmenter;
  metrics: Metrics;
  /** Lists served and the engagement attributed to them, summed over the nodes (GET /v1/admin/online-metrics). */
  onlineMetrics: Pick<OnlineMetrics, 'report'>;
  /** Bulk imports (POST /v1/import-jobs) running in the background on this node's stores. */
  importJobs: ImportJobs;
  /** Retraining from the log (POST /v1/admin/models/retrain), scheduled by the elected node. */
  retrain: RetrainJobs;
  /** Cached lists for keys with no live actor here and for related items; null when caching is off. */
  lists: { recommendations: ListCache; related: ListCache } | null;
  webDir: string;
  /** The node's log (src/ops/log.ts); null when silent. */
  logger: FastifyBaseLogger | null;
  now: () => number;
  /** Null when the node can serve; otherwise why not (the stores are unreachable...). */
  notReadyReason: () => string | null;
}
