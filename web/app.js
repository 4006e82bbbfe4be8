// The demo homepage: one socket per tab, a live grid, and the measured event-to-push time.
(function () {
  'use strict';
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

  const socket = io({ transports: ['websocket'], auth: userId ? { sessionId, userId } : { sessionId } });
  socket.on('connect', () => { $('connection').textContent = 'live'; $('connection').className = 'status online'; });
  socket.on('disconnect', () => { $('connection').textContent = 'offline'; $('connection').className = 'status'; });
  socket.on('connect_error', (err) => { $('connection').textContent = 'error: ' + (err.data ? err.data.code : err.message); });

  socket.on('recommendations', (push) => {
    const now = performance.now();
    pushCount += 1;
    $('push-count').textContent = String(pushCount);
    $('model-version').textContent = push.modelVersion;
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
    socket.emit('event', { eventType, itemId, sentAt: Date.now() }, (ack) => {
      if (!ack.ok) { $('cause').textContent = 'rejected: ' + ack.error.code; return; }
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
    });
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
    socket.emit('identify', { userId: id }, (ack) => {
      if (!ack.ok) { $('user-label').textContent = 'login failed: ' + ack.error.code; return; }
      sessionStorage.setItem('attune.userId', id);
      $('user-label').textContent = 'user ' + id;
    });
  });

  $('new-session').addEventListener('click', () => {
    sessionStorage.setItem('attune.sessionId', newSessionId());
    sessionStorage.removeItem('attune.userId');
    location.reload();
  });

  fetch('/demo/items').then((r) => r.json()).then((body) => {
    for (const item of body.items) items.set(item.itemId, item);
    if (lastList.length > 0) render(lastList);
  });
})();
