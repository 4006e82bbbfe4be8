/** SCAN and SSCAN MATCH take a glob: a prefix's own glob characters must match literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}
