/// <reference lib="dom" />
// A React page using useRecommendations, bundled by react.test.ts and run in Chromium.
import { createElement, type ReactElement } from 'react';
import { createRoot } from 'react-dom/client';
import { createAttune } from '../../clients/js/src/index.js';
import { useRecommendations } from '../../clients/js/src/react.js';

const params = new URLSearchParams(location.search);
const attune = createAttune({ url: params.get('attune') ?? '', devSession: { sessionId: params.get('session') ?? '' }, storage: null });

function TopItems(): ReactElement {
  const list = useRecommendations(attune);
  return createElement(
    'ol',
    { id: 'list', 'data-cause': list === null ? 'no list' : (list.cause?.itemId ?? 'initial') },
    ...(list?.items ?? []).slice(0, 5).map((item) => createElement('li', { key: item.itemId }, item.itemId)),
  );
}

const root = document.getElementById('root');
if (root !== null) createRoot(root).render(createElement(TopItems));
Object.assign(window, { attune });
