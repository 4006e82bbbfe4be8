import { createHmac } from 'node:crypto';
import type { ApiKeyRecord } from '../store/types.js';
import { awsCredentialsFor, type AwsCredentials } from './sigv4.js';

/**
 * An API key's AWS credentials: the access key id names the key; the secret is derived from the
 * node's SigV4 secret and the key's stored hash, so neither a leaked SigV4 secret nor a copy of
 * the key store alone yields it, and nothing more is stored.
 */
export function awsCredentialsOfKey(record: Pick<ApiKeyRecord, 'id' | 'hash'>, sigv4Root: string): AwsCredentials {
  return awsCredentialsFor(record.id, createHmac('sha256', sigv4Root).update(record.hash).digest('base64'));
}
