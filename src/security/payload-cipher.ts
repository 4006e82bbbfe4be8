import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Encryption at rest of what the Redis stores keep about people: event log entries, snapshots
 * and pushes. (The memory stores hold objects in the process, never at rest: they use none.)
 *
 * A sealed payload is
 *
 *   0xc1 | key id length (1 byte) | key id (UTF-8) | IV (12 bytes) | AES-256-GCM ciphertext | tag (16 bytes)
 *
 * 0xc1 is the one byte msgpack never uses, and every stored plaintext is msgpack (log entries,
 * pushes and snapshots all encode an object: a map, 0x80-0x8f, 0xde or 0xdf), so `open` tells a
 * sealed payload from one written before encryption was turned on by its first byte and passes
 * the latter through unchanged.
 */
export interface PayloadCipher {
  seal(plain: Uint8Array): Buffer;
  /** Opens a sealed payload; returns anything else (plaintext from before encryption) unchanged. */
  open(stored: Uint8Array): Buffer;
}

export const SEALED_MAGIC = 0xc1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Keys are `id:base64` strings (32 bytes once decoded). The first key seals; every key opens
 * what was sealed with it, so a key can be rotated by putting a new one first and keeping the
 * old ones until nothing sealed with them is left. Null for no keys: encryption off.
 */
export function createPayloadCipher(keys: readonly string[]): PayloadCipher | null {
  if (keys.length === 0) return null;
  const byId = new Map<string, Buffer>();
  for (const spec of keys) {
    const { id, key } = parseKey(spec);
    if (byId.has(id)) throw new RangeError(`encryption key id "${id}" is given twice`);
    byId.set(id, key);
  }
  const [writeId, writeKey] = byId.entries().next().value as [string, Buffer];
  const header = Buffer.concat([Buffer.from([SEALED_MAGIC, Buffer.byteLength(writeId)]), Buffer.from(writeId, 'utf8')]);

  return {
    seal(plain: Uint8Array): Buffer {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', writeKey, iv);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
    },

    open(stored: Uint8Array): Buffer {
      const bytes = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
      if (bytes.length === 0 || bytes[0] !== SEALED_MAGIC) return bytes;
      if (bytes.length < 2) throw new Error('payload failed authentication: truncated header');
      const idEnd = 2 + bytes[1];
      if (bytes.length < idEnd + IV_BYTES + TAG_BYTES) throw new Error('payload failed authentication: truncated');
      const id = bytes.subarray(2, idEnd).toString('utf8');
      const key = byId.get(id);
      if (key === undefined) throw new Error(`payload encrypted with key "${id}", which is not configured`);
      const iv = bytes.subarray(idEnd, idEnd + IV_BYTES);
      const tag = bytes.subarray(bytes.length - TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(bytes.subarray(idEnd + IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new Error(`payload failed authentication (key "${id}"): altered, or sealed with another key of that id`);
      }
    },
  };
}

function parseKey(spec: string): { id: string; key: Buffer } {
  const colon = spec.indexOf(':');
  const id = colon < 0 ? '' : spec.slice(0, colon);
  if (id === '' || Buffer.byteLength(id) > 255) throw new RangeError('each encryption key must be id:base64 with a non-empty id of at most 255 bytes');
  const key = Buffer.from(spec.slice(colon + 1), 'base64');
  if (key.length !== KEY_BYTES) throw new RangeError(`encryption key "${id}" must be ${KEY_BYTES} bytes in base64, got ${key.length}`);
  return { id, key };
}
