import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** The part of semver (a devDependency, without bundled types) this test uses. */
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

interface PackageJson {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
}
interface Lockfile {
  packages: Record<string, { version?: string; engines?: { node?: string } }>;
}

const json = <T>(file: string): T => JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')) as T;
const pkg = json<PackageJson>('package.json');
const lock = json<Lockfile>('package-lock.json');

t.test('every installed package accepts the oldest Node that package.json and the README claim (no EBADENGINE)', async (t) => {
  const oldest = semver.minVersion(pkg.engines.node)?.version;
  if (oldest === undefined) throw new Error(`engines.node ${pkg.engines.node} admits no version`);
  const refusing = Object.entries(lock.packages)
    .filter(([, entry]) => entry.engines?.node !== undefined && !semver.satisfies(oldest, entry.engines.node))
    .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')}@${entry.version} wants node ${entry.engines?.node}`);
  t.strictSame(refusing, [], `Node ${oldest}`);
  const [major, minor] = oldest.split('.');
  t.match(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'), `Node.js ${major}.${minor} or later`);
});

t.test('npm 11 skips onnxruntime-node\'s GPU download through package.json, not an .npmrc key it warns about', async (t) => {
  t.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  let npmrc = '';
  try {
    npmrc = readFileSync(new URL('../../.npmrc', import.meta.url), 'utf8');
  } catch {
    // no .npmrc: nothing npm could call unknown
  }
  t.notMatch(npmrc, /onnxruntime/);
});
