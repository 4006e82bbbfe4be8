// The demo homepage: one Attune client per tab (the @attune/client browser bundle), a live grid,
// and the measured event-to-push time.
import { createAttune } from '/attune-client.js';

{
  const $ = (id) => document.getElementById(id);
  const CATEGORY_COLORS = { shoes: '#c0392b', jackets: '#2c3e50', bags: '#8e44ad', watches: '#16a085', books: '#d35400', coffee: '#6d4c41', headphones: '#2980b9', plants: '#27ae60' };

  function newSessionId() {
    return 'web-' + Math.random().toString(36).slice(2, 10);
  }
  let sessionId = sessionStorage.getItem('attune.sessionId');
  if (!sessionId) {
    sessionId = newSessionId();
    sessionStorage.setItem('attune.sessionId', sessionId);
  }
  const userId = sessionStorage.getItem('attune.userId');
  $('session-id').textContent = sessionId;
  if (userId) $('user-label').textContent = 'user ' + userId;

  const items = new Map();
  const sentAt = new Map(); // eventId -> performance.now() at emit, until its push comes
  const pushedBeforeAck = new Map(); // eventId -> performance.now() at push
  let lastList = [];
  let latestAcked = null; // the eventId of the latest event the server acked
  let pushCount = 0;

  // The demo runs on a development server: the session connects without a token. Each tab has its
  // own session, so its own queue key (tabs share localStorage).
  const attune = createAttune({ url: location.origin, devSession: userId ? { sessionId, userId } : { sessionId }, storageKey: queueKey(sessionId) });
  attune.onStatus((status) => {
    const connection = $('connection');
    connection.className = status.state === 'online' ? 'status online' : 'status';
    if (status.state === 'online') connection.textContent = 'live';
    else if (status.error) connection.textContent = 'error: ' + status.error.code;
    else connection.textContent = status.state === 'connecting' ? 'connecting…' : 'offline';
  });

  function queueKey(id) {
    return 'attune.queue.' + id;
  }

  attune.onRecommendations((push) => {
    const now = performance.now();
    pushCount += 1;
    $('push-count').textContent = String(pushCount);
    $('model-version').textContent = push.arm === 'candidate' ? push.modelVersion + ' (candidate)' : push.modelVersion;
    if (push.cause) {
      $('cause').textContent = push.cause.eventType + ' on ' + label(push.cause.itemId);
      const started = sentAt.get(push.cause.eventId);
      if (started !== undefined) {
        showLatency(now - started);
        sentAt.delete(push.cause.eventId); // pushed: its list did change
      } else pushedBeforeAck.set(push.cause.eventId, now);
    } else {
      $('cause').textContent = 'initial list';
    }
    render(push.items);
    document.body.dataset.pushes = String(pushCount);
  });

  function showLatency(ms) {
    $('latency').textContent = ms.toFixed(1) + ' ms';
  }

  function label(itemId) {
    const item = items.get(itemId);
    return item ? item.title + ' (' + item.category + ')' : itemId;
  }

  function send(eventType, itemId) {
    const started = performance.now();
    attune.track(eventType, itemId).then((ack) => {
      if (ack.optedOut) { $('cause').textContent = eventType + ' on ' + label(itemId) + ' (opted out: not stored)'; return; }
      const pushed = pushedBeforeAck.get(ack.eventId);
      if (pushed !== undefined) { showLatency(pushed - started); pushedBeforeAck.delete(ack.eventId); }
      else sentAt.set(ack.eventId, started);
      latestAcked = ack.eventId;
      // No push within a second: the event left the list as it was. Only the latest event may say
      // so, or the label would go back to an older event after a newer one's push.
      setTimeout(() => {
        if (sentAt.delete(ack.eventId) && latestAcked === ack.eventId) $('cause').textContent = eventType + ' on ' + label(itemId) + ' (list unchanged)';
        document.body.dataset.settled = ack.eventId; // the wait is over (the page's tests wait for this)
      }, 1000);
    }, (err) => { $('cause').textContent = 'rejected: ' + err.code; });
  }

  function render(list) {
    const grid = $('grid');
    const previous = new Map(lastList.map((e, i) => [e.itemId, i]));
    grid.replaceChildren(...list.map((entry, rank) => card(entry, rank, previous.get(entry.itemId))));
    lastList = list;
  }

  function card(entry, rank, previousRank) {
    const item = items.get(entry.itemId) || { title: entry.itemId, category: '?', price: 0 };
    const li = document.createElement('li');
    li.className = 'card' + (previousRank === rank ? '' : ' moved');
    li.dataset.itemId = entry.itemId;
    li.dataset.category = item.category;
    const swatch = document.createElement('div');
    swatch.className = 'swatch';
    swatch.style.background = CATEGORY_COLORS[item.category] || '#999';
    swatch.textContent = item.category;
    const rankEl = document.createElement('span');
    rankEl.className = 'rank';
    rankEl.textContent = '#' + (rank + 1) + (previousRank === undefined ? ' new' : previousRank === rank ? '' : previousRank > rank ? ' ▲' : ' ▼');
    const title = document.createElement('div');
    title.className = 'title';
    title.textContent = item.title;
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.textContent = entry.itemId + ' · $' + item.price.toFixed(2) + ' · score ' + entry.score.toFixed(3);
    const actions = document.createElement('div');
    actions.className = 'actions';
    for (const [type, text] of [['add-to-cart', 'Add to cart'], ['purchase', 'Buy']]) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = text;
      button.dataset.eventType = type;
      button.addEventListener('click', (e) => { e.stopPropagation(); send(type, entry.itemId); });
      actions.append(button);
    }
    li.append(swatch, rankEl, title, meta, actions);
    li.addEventListener('click', () => send('view', entry.itemId));
    return li;
  }

  $('identify-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('user-id').value.trim();
    if (!id) return;
    attune.identify(id).then(() => {
      sessionStorage.setItem('attune.userId', id);
      $('user-label').textContent = 'user ' + id;
    }, (err) => { $('user-label').textContent = 'login failed: ' + err.code; });
  });

  $('new-session').addEventListener('click', () => {
    attune.close();
    // Events of the old session still queued would be sent as the new one's: drop them.
    localStorage.removeItem(queueKey(sessionId));
    sessionStorage.setItem('attune.sessionId', newSessionId());
    sessionStorage.removeItem('attune.userId');
    location.reload();
  });

  fetch('/demo/items').then((r) => r.json()).then((body) => {
    for (const item of body.items) items.set(item.itemId, item);
    if (lastList.length > 0) render(lastList);
  });
}
