// The integrations table: each integration's connection status, what it
// last answered, and when it was last tested.

import { $, changedBy, el, localTime, show } from '/ui/dom.js';
import { markOf } from '/ui/state.js';

let shownIntegrations = null;

/** What a connection status shows as its badge. */
const STATUS_TEXT = { rate_limited: 'rate limited' };

/** The step, HTTP status and latency of a connection status, one line. */
export function statusFacts(st) {
  return [st.step ? `step ${st.step}` : null, st.http_status ? `HTTP ${st.http_status}` : null, st.latency_ms != null ? `${st.latency_ms} ms` : null]
    .filter(Boolean)
    .join(' · ');
}

/** When it was last tested and, while rate limited, until when it waits. */
function statusTimes(st) {
  return [
    st.status === 'rate_limited' && st.retry_at ? `no request until ${localTime(st.retry_at)}` : null,
    st.tested_at ? `last tested ${localTime(st.tested_at)}` : 'not tested yet',
  ]
    .filter(Boolean)
    .join(' · ');
}

/** Draws the integrations table when they (or, with `force`, their marks) changed. */
export function renderIntegrations(state, force) {
  if (state.integrations === shownIntegrations && !force) return;
  shownIntegrations = state.integrations;
  $('integrations').replaceChildren(
    ...state.integrations.map((i) => {
      const st = i.status;
      const label = st ? (STATUS_TEXT[st.status] ?? st.status) : i.enabled ? 'not tested yet' : 'disabled';
      // A failure's detail already names the HTTP status and the time; the
      // facts line adds the step.
      const detail = st
        ? [st.detail || statusFacts(st) || '—', st.detail && st.step ? `(step ${st.step})` : null].filter(Boolean).join(' ')
        : i.enabled
          ? 'waiting for the first connection test'
          : 'enable it in its config file to test the connection';
      return el(
        'tr',
        { class: markOf(`integration:${i.id}`) ? 'changed' : null, 'data-id': i.id },
        el('th', { scope: 'row', text: i.id }),
        el('td', {}, el('span', { class: 'badge status', 'data-status': st?.status ?? (i.enabled ? 'unknown' : 'disabled'), text: label })),
        el('td', {}, el('code', { text: show(i.config?.base_url) })),
        el(
          'td',
          {},
          el('div', { class: 'detail', text: detail }),
          st && st.status !== 'disabled' ? el('div', { class: 'tested', text: statusTimes(st) }) : null,
        ),
        el('td', { class: 'file' }, i.file, i.last_change ? ' · ' : null, changedBy(i.last_change)),
      );
    }),
  );
}
