// The connection as the page shows it: the header's facts and pill, and
// the "disconnected" banner with its countdown to the next attempt.

import { $, short } from '/ui/dom.js';

const CONNECTION_TEXT = {
  idle: 'starting',
  connecting: 'connecting',
  open: 'live',
  reconnecting: 'reconnecting',
  paused: 'paused (tab hidden)',
  closed: 'stopped',
};

let retryTicker = null;
let bannerShown = null;

/**
 * The header's branch, commit, revision and connection pill, and the
 * banner while the connection is down (its countdown read from
 * `getState()` every half second).
 */
export function renderHeader(state, getState) {
  $('branch').textContent = state.head ? (state.head.branch ?? `detached at ${short(state.head.commit)}`) : 'not a git repository';
  // Following a branch, the commit whose state is held (what a reconnect
  // resumes from); else HEAD's.
  const commit = state.commit ?? state.head?.commit;
  $('commit').textContent = short(commit);
  $('commit').title = commit ?? '';
  $('revision').textContent = state.revision ?? '—';
  const pill = $('connection');
  pill.dataset.state = state.status;
  pill.textContent = CONNECTION_TEXT[state.status] ?? state.status;
  renderBanner(state, getState);
}

function renderBanner(state, getState) {
  const banner = $('banner');
  const down = state.status === 'reconnecting' && state.disconnectedSince !== null;
  banner.hidden = !down;
  const key = down ? `${state.attempt}:${state.retryAt}` : null;
  if (key === bannerShown) return;
  bannerShown = key;
  clearInterval(retryTicker);
  retryTicker = null;
  if (!down) return;
  const update = () => {
    const s = getState();
    const wait = s.retryAt ? Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000)) : 0;
    const shown = s.commit ? `commit ${short(s.commit)}` : `revision ${s.revision}`;
    const held = s.revision === null ? '' : ` Showing ${shown}; changes made meanwhile will be caught up.`;
    $('banner-text').textContent =
      `Disconnected from the server. ${wait > 0 ? `Reconnecting in ${wait} s (attempt ${s.attempt}).` : 'Reconnecting…'}${held}`;
  };
  update();
  retryTicker = setInterval(update, 500);
}
