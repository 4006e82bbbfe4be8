// Steps through GET /v1/admin/replay: one event at a time, its state changes, the list with rank
// moves, and whether the recorded push matched. Text only (textContent), never HTML from data.
const $ = (id) => document.getElementById(id);
let timeline = null;
let position = 0;

function item(text, className) {
  const li = document.createElement('li');
  li.textContent = text;
  if (className) li.className = className;
  return li;
}

function feature(f) {
  if (f.before === null) return [`${f.name} ${f.weight} (new)`, 'up'];
  const delta = Math.round((f.weight - f.before) * 1e4) / 1e4;
  return [`${f.name} ${f.weight}${delta === 0 ? '' : ` (${delta > 0 ? '+' : ''}${delta})`}`, delta > 0 ? 'up' : ''];
}

function move(entry) {
  if (entry.previousRank === null) return [' new', 'up'];
  if (entry.previousRank === entry.rank) return ['', ''];
  return entry.previousRank > entry.rank ? [` ↑${entry.previousRank - entry.rank}`, 'up'] : [` ↓${entry.rank - entry.previousRank}`, 'down'];
}

function show() {
  const step = timeline.steps[position];
  $('position').textContent = `event ${position + 1} of ${timeline.steps.length}`;
  $('prev').disabled = position === 0;
  $('next').disabled = position === timeline.steps.length - 1;
  const when = step.at === null ? '' : ` at ${new Date(step.at).toISOString()}`;
  $('event').textContent = step.kind === 'merge' ? `${step.eventId}: merge of ${step.mergedFrom}` : `${step.eventId}: ${step.eventType} ${step.itemId}${when}`;
  $('categories').replaceChildren(...step.categories.map((f) => item(...feature(f))));
  $('items').replaceChildren(...step.items.map((f) => item(...feature(f))));
  $('changed').textContent = step.changed ? '(changed)' : '(unchanged)';
  $('list').replaceChildren(...step.list.map((entry) => {
    const [text, className] = move(entry);
    return item(`${entry.itemId}${text}`, className);
  }));
  const recorded = step.recorded;
  $('recorded').textContent =
    recorded === null ? 'No push was recorded for this event.' : recorded.matches ? `Pushed: the same list (model ${recorded.modelVersion}, arm ${recorded.arm}).` : `Pushed a different list (model ${recorded.modelVersion}, arm ${recorded.arm}): ${recorded.items.join(', ')}`;
}

$('replay-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const query = new URLSearchParams({ [$('kind').value]: $('who').value.trim() });
  if ($('category').value.trim() !== '') query.set('category', $('category').value.trim());
  $('status').textContent = 'Replaying…';
  // An admin key, typed by whoever debugs: the page itself holds no credentials.
  const response = await fetch(`/v1/admin/replay?${query}`, { headers: { authorization: `Bearer ${$('api-key').value.trim()}` } });
  const body = await response.json();
  if (!response.ok) {
    $('status').textContent = `${body.error?.code ?? response.status}: ${body.error?.message ?? 'failed'}`;
    $('timeline').hidden = true;
    return;
  }
  timeline = body;
  position = 0;
  const { recorded, withEvent, reproduced } = timeline.pushes;
  $('status').textContent = `${timeline.key}, model ${timeline.modelVersion}: ${timeline.steps.length} log entries; ${recorded} pushes recorded, ${withEvent} caused by these events, ${reproduced} reproduced exactly.`;
  $('timeline').hidden = false;
  show();
});
$('prev').addEventListener('click', () => { position = Math.max(0, position - 1); show(); });
$('next').addEventListener('click', () => { position = Math.min(timeline.steps.length - 1, position + 1); show(); });
