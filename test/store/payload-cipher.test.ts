import { createCipheriv, randomBytes } from 'node:crypto';
import t from 'tap';
import { Packr } from 'msgpackr';
import { createPayloadCipher, payloadContext, SEALED_MAGIC, SEALED_VERSION, SEALED_VERSIONED, type PayloadCipher, type PayloadCipherOptions } from '../../src/store/payload-cipher.js';

const rawA = randomBytes(32);
const keyA = `a:${rawA.toString('base64')}`;
const keyB = `b:${randomBytes(32).toString('base64')}`;
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const plain = packr.pack({ v: 1, key: 's:abc', itemId: 'secret-item', list: [1, 2, 3] });
const ctx = 'log:s:abc';
/** Header of a payload sealed with key "a": magic, versioned marker, version, id length, id. */
const HEADER_A = 5;

const cipherOf = (keys: string[], options?: PayloadCipherOptions): PayloadCipher => {
  const cipher = createPayloadCipher(keys, options);
  if (cipher === null) throw new Error('expected a cipher');
  return cipher;
};

/** A payload in the first, unversioned format: 0xc1 | id length | id | IV | ciphertext | tag, no associated data. */
function sealVersion1(id: string, key: Buffer, bytes: Uint8Array): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(bytes), cipher.final()]);
  return Buffer.concat([Buffer.from([SEALED_MAGIC, Buffer.byteLength(id)]), Buffer.from(id), iv, body, cipher.getAuthTag()]);
}

t.test('no keys: no cipher', async (t) => {
  t.equal(createPayloadCipher([]), null);
  t.equal(createPayloadCipher([], { requireSealed: true }), null);
});

t.test('contexts: the role, then the actor key', async (t) => {
  t.equal(payloadContext('log', 's:abc'), 'log:s:abc');
  t.equal(payloadContext('snap', 'u:p1'), 'snap:u:p1');
  t.equal(payloadContext('push', 's:abc'), 'push:s:abc');
});

t.test('round trip with a context: sealed bytes open to the plaintext; each seal has a fresh IV', async (t) => {
  const cipher = cipherOf([keyA]);
  const sealed = cipher.seal(plain, ctx);
  t.equal(sealed[0], SEALED_MAGIC);
  t.equal(sealed[1], SEALED_VERSIONED);
  t.equal(sealed[2], SEALED_VERSION);
  t.equal(SEALED_VERSION, 2);
  t.equal(sealed[3], 1);
  t.equal(sealed.subarray(4, 5).toString(), 'a', 'the key id follows its length');
  t.equal(sealed.length, HEADER_A + 12 + plain.length + 16);
  t.notOk(sealed.includes(Buffer.from('secret-item')), 'the plaintext does not show');
  t.notOk(sealed.includes(Buffer.from(ctx)), 'the context is bound, not stored');
  t.strictSame(cipher.open(sealed, ctx), plain);
  t.notSame(cipher.seal(plain, ctx), sealed, 'a second seal differs (random IV)');
  t.strictSame(cipher.open(cipher.seal(new Uint8Array([]), ctx), ctx), Buffer.alloc(0), 'an empty payload');
  const padded = new Uint8Array(sealed.length + 2);
  padded.set(sealed, 2);
  t.strictSame(cipher.open(padded.subarray(2), ctx), plain, 'a plain Uint8Array view at an offset opens too');
  const unicode = 'snap:s:ünï-ü';
  t.strictSame(cipher.open(cipher.seal(plain, unicode), unicode), plain, 'a non-ASCII context');
});

t.test('a sealed value opens only for the context it was sealed for', async (t) => {
  const cipher = cipherOf([keyA]);
  const sealed = cipher.seal(plain, 'log:s:a');
  t.strictSame(cipher.open(sealed, 'log:s:a'), plain);
  const refused = /^payload failed authentication \(key "a"\): altered, sealed for another key or field/;
  t.throws(() => cipher.open(sealed, 'log:s:b'), refused, 'another actor key');
  t.throws(() => cipher.open(sealed, 'snap:s:a'), refused, 'another field of the same actor key');
  t.throws(() => cipher.open(sealed, 'push:s:a'), refused, 'a push of the same actor key');
  t.throws(() => cipher.open(sealed, 'log:s:a '), refused, 'a context one byte longer');
  t.throws(() => cipher.open(sealed, 'log:s:'), refused, 'a context one byte shorter');
  t.throws(() => cipher.open(sealed, ''), new RangeError('a payload needs a non-empty context (see payloadContext)'));
  t.throws(() => cipher.seal(plain, ''), RangeError, 'sealing needs a context too');
});

t.test('plaintext written before encryption passes through unchanged by default', async (t) => {
  const cipher = cipherOf([keyA]);
  t.strictSame(cipher.open(plain, ctx), plain);
  t.strictSame(cipher.open(new Uint8Array([]), ctx), Buffer.alloc(0));
  t.strictSame(packr.unpack(cipher.open(packr.pack({ big: 'x'.repeat(70_000) }), ctx)), { big: 'x'.repeat(70_000) });
  for (const value of [{}, { a: 1 }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))]) {
    t.not(packr.pack(value)[0], SEALED_MAGIC, 'msgpack objects never start with the magic byte');
  }
  t.strictSame(cipherOf([keyA], { requireSealed: false }).open(plain, ctx), plain, 'requireSealed: false is the default');
});

t.test('requireSealed: plaintext is refused, sealed values open', async (t) => {
  const strict = cipherOf([keyA], { requireSealed: true });
  const refused = new Error('payload is not encrypted, and unencrypted payloads are refused');
  t.throws(() => strict.open(plain, ctx), refused);
  t.throws(() => strict.open(new Uint8Array([]), ctx), refused, 'an empty value');
  t.throws(() => strict.open(packr.pack({}), ctx), refused, 'an empty map');
  t.strictSame(strict.open(strict.seal(plain, ctx), ctx), plain);
  t.strictSame(strict.open(cipherOf([keyA]).seal(plain, ctx), ctx), plain, 'what a lenient cipher with the same key sealed');
  t.throws(() => strict.open(strict.seal(plain, ctx), 'snap:s:abc'), /^payload failed authentication/, 'contexts still bind');
});

t.test('other format versions are refused with a clear message', async (t) => {
  const cipher = cipherOf([keyA, `k1:${randomBytes(32).toString('base64')}`]);
  const notSupported = (version: number) => new Error(`payload format version ${version} is not supported`);
  t.throws(() => cipher.open(sealVersion1('a', rawA, plain), ctx), notSupported(1), 'the first format (key id "a")');
  t.throws(() => cipher.open(sealVersion1('k1', randomBytes(32), plain), ctx), notSupported(1), 'the first format with a 2-byte key id is not taken for version 2');
  t.throws(() => cipher.open(sealVersion1('x'.repeat(255), randomBytes(32), plain), ctx), notSupported(1), 'the first format with a 255-byte key id');
  const sealed = cipher.seal(plain, ctx);
  for (const version of [0, 1, 3, 255]) {
    const altered = Buffer.from(sealed);
    altered[2] = version;
    t.throws(() => cipher.open(altered, ctx), notSupported(version), `version byte ${version}`);
  }
  t.throws(() => cipher.open(Buffer.from([SEALED_MAGIC, SEALED_VERSIONED]), ctx), /^payload failed authentication: truncated header/);
  t.throws(() => cipher.open(Buffer.from([SEALED_MAGIC]), ctx), /^payload failed authentication: truncated header/);
  t.throws(() => cipherOf([keyA], { requireSealed: true }).open(sealVersion1('a', rawA, plain), ctx), notSupported(1), 'requireSealed refuses it as well');
});

t.test('rotation: a new first key writes, the old one still opens; dropping it is a clear error', async (t) => {
  const oldCipher = cipherOf([keyA]);
  const rotated = cipherOf([keyB, keyA]);
  const onlyNew = cipherOf([keyB]);
  const sealedByA = oldCipher.seal(plain, ctx);
  t.strictSame(rotated.open(sealedByA, ctx), plain);
  const sealedByB = rotated.seal(plain, ctx);
  t.equal(sealedByB.subarray(4, 5).toString(), 'b', 'new writes use the first key');
  t.strictSame(onlyNew.open(sealedByB, ctx), plain);
  t.throws(() => onlyNew.open(sealedByA, ctx), new Error('payload encrypted with key "a", which is not configured'));
  t.throws(() => oldCipher.open(sealedByB, ctx), /encrypted with key "b", which is not configured/);
});

t.test('tampering is detected', async (t) => {
  const cipher = cipherOf([keyA]);
  const sealed = cipher.seal(plain, ctx);
  for (const at of [HEADER_A, HEADER_A + 12, sealed.length - 1]) {
    const altered = Buffer.from(sealed);
    altered[at] ^= 1;
    t.throws(() => cipher.open(altered, ctx), /^payload failed authentication/, `a flipped bit at ${at}`);
  }
  t.throws(() => cipher.open(sealed.subarray(0, 10), ctx), /^payload failed authentication/, 'truncated');
  const sameIdOtherKey = cipherOf([`a:${randomBytes(32).toString('base64')}`]);
  t.throws(() => sameIdOtherKey.open(sealed, ctx), /^payload failed authentication/, 'another key under the same id');
});

t.test('the key id in the header is bound: relabelling a payload fails even where both ids hold the same key', async (t) => {
  const twoIds = cipherOf([keyA, `c:${rawA.toString('base64')}`]);
  const sealed = twoIds.seal(plain, ctx);
  t.equal(sealed.subarray(4, 5).toString(), 'a');
  const relabelled = Buffer.from(sealed);
  relabelled[4] = 'c'.charCodeAt(0);
  t.throws(() => twoIds.open(relabelled, ctx), /^payload failed authentication \(key "c"\)/, 'a one-byte id swapped for another configured id');
  const longer = Buffer.concat([Buffer.from([SEALED_MAGIC, SEALED_VERSIONED, SEALED_VERSION, 2]), Buffer.from('ac'), sealed.subarray(HEADER_A)]);
  t.throws(() => cipherOf([keyA, `ac:${rawA.toString('base64')}`]).open(longer, ctx), /^payload failed authentication \(key "ac"\)/, 'a longer id with the same key');
  t.strictSame(twoIds.open(sealed, ctx), plain, 'the untouched payload still opens');
});

t.test('malformed keys are refused', async (t) => {
  t.throws(() => createPayloadCipher(['nocolon']), RangeError);
  t.throws(() => createPayloadCipher([':' + randomBytes(32).toString('base64')]), RangeError);
  t.throws(() => createPayloadCipher([`k:${randomBytes(16).toString('base64')}`]), new RangeError('encryption key "k" must be 32 bytes in base64, got 16'));
  t.throws(() => createPayloadCipher([keyA, keyA]), new RangeError('encryption key id "a" is given twice'));
});
