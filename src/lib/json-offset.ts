/*
 * Where a text stops being JSON (RFC 8259). JSON.parse's messages quote the text around the fault,
 * and only some name its position; this scanner finds the position without quoting anything, so
 * an error can point into a file without echoing what the file holds.
 */

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPED = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX = /^[0-9a-fA-F]$/;

/** What the scanner looks for next. */
type Expect = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'commaOrClose';

/**
 * The index of the first character at which `text` is not valid JSON (its length when it ends
 * too early), or null when it is one valid JSON value. Containers are tracked on a stack, so deep
 * nesting cannot overflow the call stack.
 */
export function jsonErrorIndex(text: string): number | null {
  const open: Array<'{' | '['> = [];
  let expect: Expect = 'value';
  let i = 0;
  for (;;) {
    while (i < text.length && WHITESPACE.has(text[i])) i++;
    if (expect === 'commaOrClose' && open.length === 0) return i === text.length ? null : i;
    if (i === text.length) return i;
    const c = text[i];
    if ((expect === 'valueOrClose' && c === ']') || (expect === 'keyOrClose' && c === '}')) {
      open.pop();
      i++;
      expect = 'commaOrClose';
      continue;
    }
    switch (expect) {
      case 'value':
      case 'valueOrClose': {
        if (c === '{' || c === '[') {
          open.push(c);
          i++;
          expect = c === '{' ? 'keyOrClose' : 'valueOrClose';
          continue;
        }
        const end = scalarEnd(text, i);
        if (end < 0) return -end - 1;
        i = end;
        expect = 'commaOrClose';
        continue;
      }
      case 'key':
      case 'keyOrClose': {
        if (c !== '"') return i;
        const end = stringEnd(text, i);
        if (end < 0) return -end - 1;
        i = end;
        expect = 'colon';
        continue;
      }
      case 'colon':
        if (c !== ':') return i;
        i++;
        expect = 'value';
        continue;
      case 'commaOrClose': {
        const container = open[open.length - 1];
        if (c === ',') {
          i++;
          expect = container === '{' ? 'key' : 'value';
          continue;
        }
        if (c !== (container === '{' ? '}' : ']')) return i;
        open.pop();
        i++;
        continue;
      }
    }
  }
}

/** The byte offset (UTF-8) of the first fault in `text`, or null when it is valid JSON. */
export function jsonErrorByte(text: string): number | null {
  const at = jsonErrorIndex(text);
  return at === null ? null : Buffer.byteLength(text.slice(0, at), 'utf8');
}

// Each returns the index after what it read, or -(fault index) - 1.

function scalarEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '-' || isDigit(text[i])) return numberEnd(text, i);
  for (const literal of ['true', 'false', 'null']) {
    if (c !== literal[0]) continue;
    for (let k = 1; k < literal.length; k++) if (text[i + k] !== literal[k]) return -(i + k) - 1;
    return i + literal.length;
  }
  return -i - 1;
}

/** -? (0 | [1-9] digits) (. digits)? ([eE] [+-]? digits)?: a fault is the first place a digit is missing. */
function numberEnd(text: string, start: number): number {
  let i = text[start] === '-' ? start + 1 : start;
  if (text[i] === '0') i++;
  else if (isDigit(text[i])) while (isDigit(text[i])) i++;
  else return -i - 1;
  if (text[i] === '.') {
    if (!isDigit(text[++i])) return -i - 1;
    while (isDigit(text[i])) i++;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    if (!isDigit(text[i])) return -i - 1;
    while (isDigit(text[i])) i++;
  }
  return i;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') return i + 1;
    if (c < ' ') return -i - 1;
    if (c !== '\\') {
      i++;
      continue;
    }
    const escape = text[i + 1];
    if (escape === 'u') {
      for (let k = i + 2; k < i + 6; k++) if (!HEX.test(text[k] ?? '')) return -k - 1;
      i += 6;
    } else if (escape !== undefined && ESCAPED.has(escape)) i += 2;
    else return -(i + 1) - 1;
  }
  return -i - 1;
}
