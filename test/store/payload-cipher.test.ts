import { randomBytes } from 'node:crypto';
import t from 'tap';
import { Packr } from 'msgpackr';
import { createPayloadCipher, SEALED_MAGIC } from '../../src/security/payload-cipher.js';

const keyA = `a:${randomBytes(32).toString('base64')}`;
const keyB = `b:${randomBytes(32).toString('base64')}`;
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const plain = packr.pack({ v: 1, key: 's:abc', itemId: 'secret-item', list: [1, 2, 3] });

t.test('no keys: no cipher', async (t) => {
  t.equal(createPayloadCipher([]), null);
});

t.test('round trip: sealed bytes open to the plaintext; each seal has a fresh IV', async (t) => {
  const cipher = createPayloadCipher([keyA]);
  if (cipher === null) throw new Error('expected a cipher');
  const sealed = cipher.seal(plain);
  t.equal(sealed[0], SEALED_MAGIC);
  t.equal(sealed[1], 1);
  t.equal(sealed.subarray(2, 3).toString(), 'a', 'the key id follows its length');
  t.equal(sealed.length, 1 + 1 + 1 + 12 + plain.length + 16);
  t.notOk(sealed.includes(Buffer.from('secret-item')), 'the plaintext does not show');
  t.strictSame(cipher.open(sealed), plain);
  t.notSame(cipher.seal(plain), sealed, 'a second seal differs (random IV)');
  t.strictSame(cipher.open(cipher.seal(new Uint8Array([]))), Buffer.alloc(0), 'an empty payload');
  const padded = new Uint8Array(sealed.length + 2);
  padded.set(sealed, 2);
  t.strictSame(cipher.open(padded.subarray(2)), plain, 'a plain Uint8Array view at an offset opens too');
});

t.test('plaintext written before encryption passes through unchanged', async (t) => {
  const cipher = createPayloadCipher([keyA]);
  if (cipher === null) throw new Error('expected a cipher');
  t.strictSame(cipher.open(plain), plain);
  t.strictSame(cipher.open(new Uint8Array([])), Buffer.alloc(0));
  t.strictSame(packr.unpack(cipher.open(packr.pack({ big: 'x'.repeat(70_000) }))), { big: 'x'.repeat(70_000) });
  for (const value of [{}, { a: 1 }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))]) {
    t.not(packr.pack(value)[0], SEALED_MAGIC, 'msgpack objects never start with the magic byte');
  }
});

t.test('rotation: a new first key writes, the old one still opens; dropping it is a clear error', async (t) => {
  const oldCipher = createPayloadCipher([keyA]);
  const rotated = createPayloadCipher([keyB, keyA]);
  const onlyNew = createPayloadCipher([keyB]);
  if (oldCipher === null || rotated === null || onlyNew === null) throw new Error('expected ciphers');
  const sealedByA = oldCipher.seal(plain);
  t.strictSame(rotated.open(sealedByA), plain);
  const sealedByB = rotated.seal(plain);
  t.equal(sealedByB.subarray(2, 3).toString(), 'b', 'new writes use the first key');
  t.strictSame(onlyNew.open(sealedByB), plain);
  t.throws(() => onlyNew.open(sealedByA), new Error('payload encrypted with key "a", which is not configured'));
  t.throws(() => oldCipher.open(sealedByB), /encrypted with key "b", which is not configured/);
});

t.test('tampering is detected', async (t) => {
  const cipher = createPayloadCipher([keyA]);
  if (cipher === null) throw new Error('expected a cipher');
  const sealed = cipher.seal(plain);
  for (const at of [3, 3 + 12, sealed.length - 1]) {
    const altered = Buffer.from(sealed);
    altered[at] ^= 1;
    t.throws(() => cipher.open(altered), /^payload failed authentication/, `a flipped bit at ${at}`);
  }
  t.throws(() => cipher.open(sealed.subarray(0, 10)), /^payload failed authentication/, 'truncated');
  const sameIdOtherKey = createPayloadCipher([`a:${randomBytes(32).toString('base64')}`]);
  t.throws(() => sameIdOtherKey?.open(sealed), /^payload failed authentication/, 'another key under the same id');
});

t.test('malformed keys are refused', async (t) => {
  t.throws(() => createPayloadCipher(['nocolon']), RangeError);
  t.throws(() => createPayloadCipher([':' + randomBytes(32).toString('base64')]), RangeError);
  t.throws(() => createPayloadCipher([`k:${randomBytes(16).toString('base64')}`]), new RangeError('encryption key "k" must be 32 bytes in base64, got 16'));
  t.throws(() => createPayloadCipher([keyA, keyA]), new RangeError('encryption key id "a" is given twice'));
});
