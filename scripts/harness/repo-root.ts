import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SetupError } from './setup-error.js';

/** The repository root, found upwards from this module (scripts/harness/ or dist/scripts/harness/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'attune.js'))) return dir;
    dir = dirname(dir);
  }
  throw new SetupError('cannot find the repository root (package.json next to bin/attune.js) above this script');
}
