import t from 'tap';
import { readFileSync } from 'node:fs';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The README's shell examples: the lines of its ```sh blocks, a line ending in \ joined with the next. */
function shellLines(): string[] {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1].replace(/\\\n/g, ' '));
  return blocks.flatMap((block) => block.split('\n')).filter((line) => line.trim() !== '');
}

t.test('every curl example against /v1 sends the API key', async (t) => {
  const curls = shellLines().filter((line) => /^curl .*\/v1\//.test(line));
  t.ok(curls.length >= 5, `${curls.length} curl examples`);
  for (const line of curls) t.match(line, /-H "authorization: Bearer \$[A-Z_]+"/, line);
  t.match(README, /set `KEY` to the\s+development key it prints/, 'and says where KEY comes from');
});

t.test('the README says how to run the CLI: npx attune in the project', async (t) => {
  const runs = shellLines().filter((line) => line.startsWith('npx attune '));
  t.ok(runs.some((line) => line.startsWith('npx attune help')), 'npx attune help');
  t.ok(runs.some((line) => line.startsWith('npx attune serve')), 'npx attune serve');
  t.match(README, /writes `attune \.\.\.` for `npx attune \.\.\.`/);
});
