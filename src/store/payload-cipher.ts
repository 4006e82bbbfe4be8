import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Encryption at rest of what the Redis stores keep about people: event log entries, snapshots
 * and pushes. (The memory stores hold objects in the process, never at rest: they use none.)
 *
 * A sealed payload is
 *
 *   0xc1 | 0x00 | format version (1 byte, now 2) | key id length (1 byte) | key id (UTF-8)
 *        | IV (12 bytes) | AES-256-GCM ciphertext | tag (16 bytes)
 *
 * 0xc1 is the one byte msgpack never uses, and every stored plaintext is msgpack (log entries,
 * pushes and snapshots all encode an object: a map, 0x80-0x8f, 0xde or 0xdf), so `open` tells a
 * sealed payload from one written before encryption was turned on by its first byte and passes
 * the latter through unchanged, unless the cipher was made with `requireSealed`.
 *
 * The 0x00 after the magic marks a versioned payload: the first format (version 1) had the key
 * id length there, which is never 0, so a version 1 payload is told apart exactly and refused.
 *
 * The GCM associated data is the header (magic through key id) followed by the caller's context
 * (UTF-8): the role and logical key the payload belongs to, e.g. `log:s:abc` (see
 * `payloadContext`). A sealed value copied to another key or field, or with its header altered
 * (another key id, another version), fails authentication. The context is the store's actor key,
 * not the Redis key name, so a changed key prefix does not stop old values opening.
 */
export interface PayloadCipher {
  /** Seals `plain` for `context` (see `payloadContext`); only the same context opens it. */
  seal(plain: Uint8Array, context: string): Buffer;
  /**
   * Opens a payload sealed for `context`. Anything not sealed (plaintext from before encryption)
   * is returned unchanged, or refused when the cipher was made with `requireSealed`.
   */
  open(stored: Uint8Array, context: string): Buffer;
}

export interface PayloadCipherOptions {
  /**
   * Refuse payloads that are not sealed instead of passing them through: gives integrity
   * against whoever can write Redis, once nothing written before encryption is left. Default false.
   */
  requireSealed?: boolean;
}

/** What a stored payload is: an event log entry, a snapshot, a push. */
export type PayloadRole = 'log' | 'snap' | 'push';

/** The context a store seals its payloads for: the payload's role and the actor key it belongs to. */
export function payloadContext(role: PayloadRole, actorKey: string): string {
  return `${role}:${actorKey}`;
}

export const SEALED_MAGIC = 0xc1;
/** The byte after the magic in a versioned payload (the first, unversioned format had the key id length, never 0, there). */
export const SEALED_VERSIONED = 0x00;
export const SEALED_VERSION = 0x02;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** magic, versioned marker, version, key id length. */
const FIXED_HEADER_BYTES = 4;

/**
 * Keys are `id:base64` strings (32 bytes once decoded). The first key seals; every key opens
 * what was sealed with it, so a key can be rotated by putting a new one first and keeping the
 * old ones until nothing sealed with them is left. Null for no keys: encryption off.
 */
export function createPayloadCipher(keys: readonly string[], options: PayloadCipherOptions = {}): PayloadCipher | null {
  if (keys.length === 0) return null;
  const requireSealed = options.requireSealed ?? false;
  const byId = new Map<string, Buffer>();
  for (const spec of keys) {
    const { id, key } = parseKey(spec);
    if (byId.has(id)) throw new RangeError(`encryption key id "${id}" is given twice`);
    byId.set(id, key);
  }
  const [writeId, writeKey] = byId.entries().next().value as [string, Buffer];
  const header = Buffer.concat([
    Buffer.from([SEALED_MAGIC, SEALED_VERSIONED, SEALED_VERSION, Buffer.byteLength(writeId)]),
    Buffer.from(writeId, 'utf8'),
  ]);

  return {
    seal(plain: Uint8Array, context: string): Buffer {
      checkContext(context);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', writeKey, iv);
      cipher.setAAD(associatedData(header, context));
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
    },

    open(stored: Uint8Array, context: string): Buffer {
      checkContext(context);
      const bytes = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
      if (bytes.length === 0 || bytes[0] !== SEALED_MAGIC) {
        if (requireSealed) throw new Error('payload is not encrypted, and unencrypted payloads are refused');
        return bytes;
      }
      if (bytes.length < FIXED_HEADER_BYTES) throw new Error('payload failed authentication: truncated header');
      const version = bytes[1] === SEALED_VERSIONED ? bytes[2] : 1;
      if (version !== SEALED_VERSION) throw new Error(`payload format version ${version} is not supported`);
      const idEnd = FIXED_HEADER_BYTES + bytes[3];
      if (bytes.length < idEnd + IV_BYTES + TAG_BYTES) throw new Error('payload failed authentication: truncated');
      const id = bytes.subarray(FIXED_HEADER_BYTES, idEnd).toString('utf8');
      const key = byId.get(id);
      if (key === undefined) throw new Error(`payload encrypted with key "${id}", which is not configured`);
      const iv = bytes.subarray(idEnd, idEnd + IV_BYTES);
      const tag = bytes.subarray(bytes.length - TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(associatedData(bytes.subarray(0, idEnd), context));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(bytes.subarray(idEnd + IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new Error(`payload failed authentication (key "${id}"): altered, sealed for another key or field, or sealed with another key of that id`);
      }
    },
  };
}

/** The header is length-prefixed throughout, so header then context reads back one way only. */
function associatedData(header: Buffer, context: string): Buffer {
  return Buffer.concat([header, Buffer.from(context, 'utf8')]);
}

function checkContext(context: string): void {
  if (typeof context !== 'string' || context === '') throw new RangeError('a payload needs a non-empty context (see payloadContext)');
}

function parseKey(spec: string): { id: string; key: Buffer } {
  const colon = spec.indexOf(':');
  const id = colon < 0 ? '' : spec.slice(0, colon);
  if (id === '' || Buffer.byteLength(id) > 255) throw new RangeError('each encryption key must be id:base64 with a non-empty id of at most 255 bytes');
  const key = Buffer.from(spec.slice(colon + 1), 'base64');
  if (key.length !== KEY_BYTES) throw new RangeError(`encryption key "${id}" must be ${KEY_BYTES} bytes in base64, got ${key.length}`);
  return { id, key };
}
