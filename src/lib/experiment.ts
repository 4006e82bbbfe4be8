import { fnv1a32 } from './fnv1a.js';

/**
 * An experiment splits actor keys between the live model and a candidate. A key's arm comes from
 * a hash of the key and the experiment's salt alone, so it is the same on every node, at every
 * list and after a restart, and a new salt (a new candidate) draws a fresh, independent split.
 */
export type Arm = 'live' | 'candidate';

export const ARMS: readonly Arm[] = ['live', 'candidate'];

/** The split's resolution: shares are whole hundredths of a percent. */
export const SPLIT_BUCKETS = 10_000;

/** Which of SPLIT_BUCKETS buckets the key falls in for this salt. */
export function bucketOf(key: string, salt: string): number {
  return mix32(fnv1a32(`${salt}\n${key}`)) % SPLIT_BUCKETS;
}

/** The key's arm when `candidateShare` (0..1) of the keys go to the candidate. */
export function armOf(key: string, salt: string, candidateShare: number): Arm {
  return bucketOf(key, salt) < Math.round(candidateShare * SPLIT_BUCKETS) ? 'candidate' : 'live';
}

/**
 * The finalizer of MurmurHash3: FNV-1a alone leaves keys that differ in their last characters
 * (user-1, user-2...) close together in the low bits the bucket is taken from.
 */
function mix32(hash: number): number {
  let h = hash;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Reads an experiment's text, `candidate=10%`: the share of keys the candidate serves, a
 * percentage from 0 to 100 in steps of 0.01. Returns the share as a fraction (0.1), or why the
 * text is not one (a phrase to follow the option's name).
 */
export function parseExperiment(text: string): { candidateShare: number } | { error: string } {
  const match = /^candidate=(\d{1,3}(?:\.\d{1,2})?)%$/.exec(text.trim());
  if (match === null) return { error: 'must be candidate=N% with N a percentage from 0 to 100 (at most two decimals), e.g. candidate=10%' };
  const percent = Number(match[1]);
  if (percent > 100) return { error: 'must give the candidate at most 100%' };
  return { candidateShare: Math.round(percent * 100) / SPLIT_BUCKETS };
}
