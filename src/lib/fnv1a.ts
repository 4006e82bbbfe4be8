/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text` (lone surrogates count as U+FFFD, as
 * TextEncoder writes them), so any language can reproduce the mapping. Encodes inline: this runs
 * for every event and a TextEncoder call would allocate.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const mix = (byte: number): void => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      mix(code);
      continue;
    }
    if (code < 0x800) {
      mix(0xc0 | (code >> 6));
      mix(0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        mix(0xf0 | (code >> 18));
        mix(0x80 | ((code >> 12) & 0x3f));
        mix(0x80 | ((code >> 6) & 0x3f));
        mix(0x80 | (code & 0x3f));
        continue;
      }
      code = 0xfffd;
    }
    mix(0xe0 | (code >> 12));
    mix(0x80 | ((code >> 6) & 0x3f));
    mix(0x80 | (code & 0x3f));
  }
  return hash >>> 0;
}
