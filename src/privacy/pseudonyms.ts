import { createHmac } from 'node:crypto';

/**
 * User ids never reach the stores: each is replaced at the edge (HTTP, sockets, import, replay)
 * by a keyed HMAC, so a copy of Redis does not name anybody, and erasing a user erases every
 * key that holds their pseudonym. The same key must be used by every node for the life of the
 * data: another key maps the same person to another pseudonym, and their history is orphaned.
 */
export class Pseudonyms {
  private readonly key: Buffer;

  constructor(key: string) {
    this.key = Buffer.from(key, 'utf8');
  }

  /** 128 bits of HMAC-SHA256, as 32 hex digits: collisions are out of reach, keys stay short. */
  user(userId: string): string {
    return createHmac('sha256', this.key).update(userId, 'utf8').digest('hex').slice(0, 32);
  }
}
