import type { FastifyInstance } from 'fastify';
import { AttuneError } from '../../errors.js';
import { idSchema } from '../schemas.js';
import type { HttpDeps } from './deps.js';

const userParams = { type: 'object', additionalProperties: false, required: ['userId'], properties: { userId: idSchema } } as const;
const consentBody = { type: 'object', additionalProperties: false, required: ['personalization'], properties: { personalization: { type: 'boolean' } } } as const;
const jobParams = { type: 'object', additionalProperties: false, required: ['jobId'], properties: { jobId: { type: 'string', minLength: 1, maxLength: 64 } } } as const;

/**
 * Consent and erasure. Opting out stops storing and using the user's behaviour (their events
 * are acknowledged but dropped, their lists are the non-personalized ones) and erases what was
 * stored; DELETE forgets the user entirely, the consent record included. Both erase, so both
 * need the privacy role (admin holds it): the ingest key that a shop's backend sends events with
 * can neither opt a user out nor erase one.
 */
export function privacyRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.put<{ Params: { userId: string }; Body: { personalization: boolean } }>(
    '/v1/users/:userId/consent',
    { schema: { params: userParams, body: consentBody }, config: { access: 'privacy' } },
    async (request) => {
      const { userId } = request.params;
      const optedOut = !request.body.personalization;
      await deps.stores.consent.setOptedOut(userId, optedOut);
      deps.consent.update(userId, optedOut);
      await deps.stores.bus.publish({ type: 'consent', userId, optedOut });
      if (!optedOut) return { personalization: true };
      const job = await deps.erasure.start(userId, { keepConsent: true });
      // An opt-out erases data: it is audited like a deletion, by its job, never by the person.
      await deps.audit(request, { action: 'user.opt-out', target: job.id, outcome: 'ok' });
      return { personalization: false, deletionJobId: job.id };
    },
  );

  app.get<{ Params: { userId: string } }>('/v1/users/:userId/consent', { schema: { params: userParams }, config: { access: 'privacy' } }, async (request) => ({
    personalization: !(await deps.stores.consent.isOptedOut(request.params.userId)),
  }));

  app.delete<{ Params: { userId: string } }>('/v1/users/:userId', { schema: { params: userParams }, config: { access: 'privacy' } }, async (request, reply) => {
    const job = await deps.erasure.start(request.params.userId, { keepConsent: false });
    deps.consent.forget(request.params.userId);
    // The audit log names the job, never the person.
    await deps.audit(request, { action: 'user.delete', target: job.id, outcome: 'ok' });
    return reply.status(202).header('location', `/v1/deletion-jobs/${job.id}`).send({ jobId: job.id, state: job.state });
  });

  app.get<{ Params: { jobId: string } }>('/v1/deletion-jobs/:jobId', { schema: { params: jobParams }, config: { access: 'privacy' } }, async (request) => {
    const job = await deps.erasure.get(request.params.jobId);
    if (job === null) throw new AttuneError('NOT_FOUND', `no deletion job ${request.params.jobId}`);
    return { jobId: job.id, state: job.state, requestedAt: job.requestedAt, finishedAt: job.finishedAt, keysErased: job.keysErased, ...(job.error === undefined ? {} : { error: job.error }) };
  });
}
