/**
 * A client event id: a random UUID, 36 characters of [0-9a-f-], which the server's eventId
 * rule (1 to 64 characters of [A-Za-z0-9._:-]) accepts. crypto.randomUUID exists only in secure
 * contexts (https, localhost); a page served over plain http elsewhere gets the same format from
 * crypto.getRandomValues, which exists everywhere.
 */
export function newEventId(): string {
  const webCrypto = globalThis.crypto;
  if (typeof webCrypto.randomUUID === 'function') return webCrypto.randomUUID();
  const bytes = webCrypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
