import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './tools.js';

/*
 * The Dockerfile, read as Docker reads it (no daemon runs here to build it): the stages, what
 * each installs and copies, the user, the health check and the entry point. The health check
 * script runs against real nodes in healthcheck.test.ts.
 */

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string;
  base: string;
  instructions: Instruction[];
}

/** Instructions by stage; `\` continues a line, `#` starts a comment line. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' ').trim() };
    if (instruction.keyword === 'FROM') {
      const [, base, name] = /^(\S+)(?: AS (\S+))?$/i.exec(instruction.args) ?? [];
      stages.push({ name: name ?? String(stages.length), base, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return stages;
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const stage = (name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no stage ${name}`);
  return found;
};
const all = (s: Stage, keyword: string): string[] => s.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

/** COPY's sources and destination; `from` for --from=stage. */
function copies(s: Stage): Array<{ from: string | null; sources: string[]; dest: string }> {
  return all(s, 'COPY').map((args) => {
    const words = args.split(' ');
    const flags = words.filter((w) => w.startsWith('--'));
    const paths = words.filter((w) => !w.startsWith('--'));
    const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null;
    return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
  });
}

t.test('three stages: build, production dependencies, runtime', async (t) => {
  t.strictSame(stages.map((s) => s.name), ['build', 'deps', 'runtime']);
  t.match(dockerfile, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m, 'Node 20 (package.json engines: >=20.19), slim Debian');
  for (const s of stages) t.equal(s.base, '${NODE_IMAGE}', `${s.name} starts from the Node image`);
});

t.test('npm never installs onnxruntime-node\'s GPU download, and the runtime gets production dependencies only', async (t) => {
  for (const s of stages) {
    const npmRuns = all(s, 'RUN').filter((run) => /\bnpm (ci|install|rebuild)\b/.test(run));
    if (npmRuns.length === 0) continue;
    const envAt = s.instructions.findIndex((i) => i.keyword === 'ENV' && /\bONNXRUNTIME_NODE_INSTALL=skip\b/.test(i.args));
    const firstNpm = s.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm (ci|install|rebuild)\b/.test(i.args));
    t.ok(envAt >= 0 && envAt < firstNpm, `${s.name}: ONNXRUNTIME_NODE_INSTALL=skip is set before npm installs`);
    for (const run of npmRuns) t.match(run, /--ignore-scripts/, `${s.name}: ${run.slice(0, 60)}... runs no install script`);
  }
  t.notMatch(dockerfile, /--dev\b|--include=dev|--production=false/, 'nothing asks for dev dependencies');
  t.match(all(stage('build'), 'RUN').join('\n'), /npm ci --ignore-scripts[^\n]*\n[^]*npm run build/, 'build: npm ci, then npm run build');
  t.ok(all(stage('deps'), 'RUN').some((run) => /\bnpm ci --omit=dev --ignore-scripts\b/.test(run)), 'deps: npm ci --omit=dev (prepare would need tsc, a dev dependency)');
  t.strictSame(all(stage('runtime'), 'RUN').filter((run) => /\bnpm\b/.test(run)), [], 'the runtime stage runs no npm');
  const fromStages = copies(stage('runtime')).filter((c) => c.from !== null).map((c) => `${c.from}:${c.sources.join(',')}`);
  t.strictSame(fromStages, ['deps:/app/node_modules', 'build:/app/dist'], 'node_modules from deps, dist/ from build');
});

t.test('the build stage copies what tsconfig.build.json compiles', async (t) => {
  const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { extends: string; include: string[] };
  const copied = copies(stage('build')).flatMap((c) => c.sources);
  for (const path of [...build.include, 'tsconfig.build.json', build.extends.replace(/^\.\//, ''), 'package.json', 'package-lock.json']) {
    t.ok(copied.includes(path), `COPY ${path}`);
  }
});

t.test('the runtime has what `node bin/attune.js serve` loads, and every COPY source exists and reaches the build context', async (t) => {
  const runtimeSources = copies(stage('runtime')).filter((c) => c.from === null).flatMap((c) => c.sources);
  // package.json says "type": "module" (dist/ is ESM); bin/attune.js imports ../dist/src/cli/main.js; web/ holds the pages.
  t.strictSame(runtimeSources, ['package.json', 'bin', 'web', 'deploy/docker/healthcheck.mjs']);
  t.match(readFileSync(join(ROOT, 'bin', 'attune.js'), 'utf8'), /import '\.\.\/dist\/src\/cli\/main\.js'/);
  t.equal((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { type: string }).type, 'module');

  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  t.notOk(ignored.some((p) => p.startsWith('!')), '.dockerignore has no exceptions (the check below reads plain paths only)');
  for (const required of ['node_modules', 'dist', '.git', '**/.env']) t.ok(ignored.includes(required), `.dockerignore leaves out ${required}`);
  const excluded = (path: string): string | undefined => ignored.find((p) => path === p || path.startsWith(`${p}/`));
  for (const s of stages) {
    for (const source of copies(s).filter((c) => c.from === null).flatMap((c) => c.sources)) {
      t.ok(existsSync(join(ROOT, source)), `${s.name}: ${source} exists`);
      t.equal(excluded(source), undefined, `${s.name}: ${source} is in the build context`);
    }
  }
});

t.test('runs as a non-root numeric user, exposes 8080, checks /healthz, and starts `node bin/attune.js serve`', async (t) => {
  const runtime = stage('runtime');
  const users = all(runtime, 'USER');
  t.equal(users.length, 1);
  t.match(users[0], /^[1-9]\d*(:[1-9]\d*)?$/, 'numeric and not 0, so runAsNonRoot can verify it');
  const userAt = runtime.instructions.findIndex((i) => i.keyword === 'USER');
  t.notOk(runtime.instructions.slice(userAt).some((i) => i.keyword === 'RUN'), 'nothing runs as root after USER');
  t.strictSame(all(runtime, 'EXPOSE'), ['8080']);
  t.match(all(runtime, 'ENV').join(' '), /ATTUNE_PORT=8080/, 'the node listens where EXPOSE says');
  t.match(all(runtime, 'ENV').join(' '), /ATTUNE_DATA_DIR=\/var\/lib\/attune/);
  t.match(all(runtime, 'RUN').join('\n'), /chown -R 1000:1000 \/var\/lib\/attune/, 'the data directory is the user\'s');
  t.strictSame(all(runtime, 'HEALTHCHECK').map((h) => h.replace(/^.*CMD /, '')), ['["node", "deploy/docker/healthcheck.mjs"]']);
  const entry = JSON.parse(all(runtime, 'ENTRYPOINT')[0]) as string[];
  const cmd = JSON.parse(all(runtime, 'CMD')[0]) as string[];
  t.strictSame([...entry, ...cmd], ['node', 'bin/attune.js', 'serve'], 'exec form: node is PID 1 and gets SIGTERM, which drains the node');
});
