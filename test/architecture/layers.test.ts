import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/**
 * The layers of src/, lowest first. A module may import its own folder and any folder of a
 * lower layer; never a higher layer, nor another folder of its own layer (so layers stay
 * acyclic and each folder can be read knowing only what is below it).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['lib'],
  ['session'],
  ['errors.ts', 'config.ts'],
  ['store'],
  ['security', 'personalize', 'model'],
  ['privacy', 'demo'],
  ['training'],
  ['ops'],
  ['cache', 'actors'],
  ['serving'],
  ['transport'],
  ['server'],
  ['cli'],
];

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

interface Import {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The folder under src/ a path is in, or the file's own name for a file directly in src/. */
function unitOf(path: string): string {
  return relative(SRC, path).split(sep)[0];
}

/** Every relative import and re-export of src/, type-only ones included (they couple the layers as much). */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)].map((m) => m[1]);
  return specifiers.map((specifier) => ({ from: relative(SRC, file), to: relative(SRC, join(dirname(file), specifier.replace(/\.js$/, '.ts'))) }));
}

const layerOf = new Map(LAYERS.flatMap((units, rank) => units.map((unit) => [unit, rank] as const)));
const files = sourceFiles(SRC);
const imports = files.flatMap(importsOf);

t.test('every folder and top-level file of src/ has a layer', async (t) => {
  const units = [...new Set(files.map(unitOf))].sort();
  t.strictSame(units.filter((unit) => !layerOf.has(unit)), [], 'units without a layer: add them to LAYERS');
  t.strictSame([...layerOf.keys()].filter((unit) => !units.includes(unit)).sort(), [], 'layers naming units that no longer exist');
});

t.test('imports only go down the layers', async (t) => {
  const upward = imports
    .filter(({ from, to }) => {
      const source = from.split(sep)[0];
      const target = to.split(sep)[0];
      if (source === target) return false;
      return (layerOf.get(target) ?? Infinity) >= (layerOf.get(source) ?? -Infinity);
    })
    .map(({ from, to }) => `${from} -> ${to}`);
  t.strictSame(upward, [], 'imports to a higher layer or a sibling folder');
});

t.test("the issue's rules, spelled out", async (t) => {
  const offending = (sources: readonly string[], targets: readonly string[]): string[] =>
    imports.filter(({ from, to }) => sources.includes(from.split(sep)[0]) && targets.includes(to.split(sep)[0])).map(({ from, to }) => `${from} -> ${to}`);
  t.strictSame(offending(['store', 'model', 'session'], ['actors', 'transport', 'serving']), [], 'store, model and session never import actors, transport or serving');
  t.strictSame(offending(['model'], ['training']), [], 'serving code never imports training');
  t.strictSame(offending(['session'], [...layerOf.keys()].filter((unit) => unit !== 'session' && unit !== 'lib')), [], 'the session kernel imports nothing of the rest');
  const belowTransport = [...layerOf.keys()].filter((unit) => (layerOf.get(unit) ?? 0) < (layerOf.get('transport') ?? 0));
  t.strictSame(offending(belowTransport, ['transport']), [], 'nothing below transport imports transport');
});

t.test('the check sees imports', async (t) => {
  // A parse that found nothing would pass every rule above.
  t.ok(imports.length > 300, `${imports.length} imports parsed`);
  t.ok(imports.some(({ from, to }) => from === join('actors', 'actor-host.ts') && to === join('session', 'state.ts')), 'actor-host imports the reducer');
});

t.test('process.env is read by the config module only', async (t) => {
  const readers = files.filter((file) => readFileSync(file, 'utf8').includes('process.env')).map((file) => relative(SRC, file));
  t.strictSame(readers, ['config.ts']);
});
