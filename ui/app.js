// The page served at `/`: renders what the shared client core
// (`/hooks/client.js`, the same module the React hook uses) holds, and turns
// its frames into toasts. It keeps no connection or patch logic of its own
// and never navigates: every change is applied in place.

import { createClient, errorsIntroduced, filesFixed } from '/hooks/client.js';

const $ = (id) => document.getElementById(id);
const MARK_MS = 4000;
const TOAST_MS = 12000;
const LOG_MAX = 50;
const DIFF_PATCHES_SHOWN = 20;

// The token, when the server needs one, comes in the page URL once; it is
// taken out of the address bar (without navigating) so it is not shared by
// a copied link or a screenshot.
const params = new URLSearchParams(location.search);
const token = params.get('token');
if (token) {
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
}

/** Rows changed by the last reloads: key → time the mark ends. */
const marks = new Map();
const log = [];

// ---- small DOM helpers ----------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function short(commit) {
  return commit ? commit.slice(0, 7) : '—';
}

function show(value) {
  if (value === undefined || value === null) return '∅';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function marked(key) {
  const until = marks.get(key);
  return until !== undefined && until > Date.now();
}

function api(path) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  return fetch(path, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${path}: ${r.status}`))));
}

// ---- rendering ------------------------------------------------------------

const CONNECTION_TEXT = {
  idle: 'starting',
  connecting: 'connecting',
  open: 'live',
  reconnecting: 'reconnecting',
  paused: 'paused (tab hidden)',
  closed: 'stopped',
};

let retryTicker = null;

function renderHeader(state) {
  $('branch').textContent = state.head ? (state.head.branch ?? `detached at ${short(state.head.commit)}`) : 'not a git repository';
  $('commit').textContent = short(state.head?.commit);
  $('revision').textContent = state.revision ?? '—';
  const pill = $('connection');
  pill.dataset.state = state.status;
  pill.textContent = CONNECTION_TEXT[state.status] ?? state.status;
  renderBanner(state);
}

function renderBanner(state) {
  const banner = $('banner');
  const down = state.status === 'reconnecting' && state.disconnectedSince !== null;
  banner.hidden = !down;
  clearInterval(retryTicker);
  retryTicker = null;
  if (!down) return;
  const update = () => {
    const s = client.getState();
    const wait = s.retryAt ? Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000)) : 0;
    const held = s.revision === null ? '' : ` Showing revision ${s.revision}; changes made meanwhile will be caught up.`;
    $('banner-text').textContent =
      `Disconnected from the server. ${wait > 0 ? `Reconnecting in ${wait} s (attempt ${s.attempt}).` : 'Reconnecting…'}${held}`;
  };
  update();
  retryTicker = setInterval(update, 500);
}

function renderErrors(state) {
  const list = $('errors');
  const errors = state.errors;
  $('error-count').textContent = String(state.errorsTotal ?? errors.length);
  $('errors-empty').hidden = errors.length > 0;
  const truncated = $('errors-truncated');
  truncated.hidden = !state.errorsTruncated;
  if (state.errorsTruncated) {
    truncated.replaceChildren(
      `Showing ${errors.length} of ${state.errorsTotal} (the first 100 of each file). Every one: `,
      el('code', { text: 'GET /api/v1/dev/hot-reload/status?errors=all' }),
    );
  }
  list.replaceChildren(
    ...errors.map((e) =>
      el(
        'li',
        { class: `error ${e.severity === 'warning' ? 'warning' : ''} ${marked(`error:${e.file}`) ? 'changed' : ''}` },
        el('code', { class: 'pos', text: `${e.file}:${e.line}:${e.column}` }),
        el('span', { class: 'kind', text: e.severity === 'warning' ? `warning (${e.kind})` : e.kind }),
        el('span', { class: 'message', text: e.message }),
      ),
    ),
  );
}

function renderWorkflows(state) {
  $('workflow-count').textContent = String(state.workflows.length);
  $('workflows').replaceChildren(
    ...state.workflows.map((w) => {
      const d = w.definition ?? {};
      return el(
        'article',
        { class: `workflow ${marked(`workflow:${w.id}`) ? 'changed' : ''}`, 'data-id': w.id },
        el(
          'header',
          {},
          el('h3', { text: d.name ?? w.id }),
          el('code', { class: 'id', text: w.id }),
          el('span', { class: 'file', text: `${w.file} · rev ${w.revision}` }),
        ),
        d.description ? el('p', { class: 'description', text: d.description }) : null,
        d.ticket_types?.length ? el('p', { class: 'tickets', text: `ticket types: ${d.ticket_types.join(', ')}` }) : null,
        el(
          'ol',
          { class: 'steps' },
          (d.steps ?? []).map((s) =>
            el(
              'li',
              { class: `step ${marked(`step:${w.id}:${s.id}`) ? 'changed' : ''}`, 'data-step': s.id },
              el('span', { class: 'step-name', text: s.name }),
              el('code', { class: 'step-id', text: s.id }),
              el('span', { class: 'minutes', text: `${s.estimated_minutes} min` }),
              s.integration ? el('span', { class: 'badge integration', text: s.integration }) : null,
              s.checklist?.length ? el('span', { class: 'checklist', text: `${s.checklist.length} checks` }) : null,
            ),
          ),
        ),
      );
    }),
  );
}

function renderIntegrations(state) {
  $('integrations').replaceChildren(
    ...state.integrations.map((i) => {
      const st = i.status;
      const label = st?.status ?? (i.enabled ? 'not tested yet' : 'disabled');
      // A failure's detail already names the HTTP status and the time.
      const detail = st
        ? st.detail ||
          [st.http_status ? `HTTP ${st.http_status}` : null, st.latency_ms != null ? `${st.latency_ms} ms` : null]
            .filter(Boolean)
            .join(' · ') ||
          '—'
        : i.enabled
          ? 'waiting for the first connection test'
          : 'enable it in its config file to test the connection';
      return el(
        'tr',
        { class: marked(`integration:${i.id}`) ? 'changed' : null, 'data-id': i.id },
        el('th', { scope: 'row', text: i.id }),
        el('td', {}, el('span', { class: 'badge status', 'data-status': st?.status ?? (i.enabled ? 'unknown' : 'disabled'), text: label })),
        el('td', {}, el('code', { text: show(i.config?.base_url) })),
        el('td', { class: 'detail', text: detail }),
        el('td', { class: 'file', text: i.file }),
      );
    }),
  );
}

function renderLog() {
  $('log').replaceChildren(
    ...log.map((entry) =>
      el(
        'li',
        { class: `log-${entry.kind}` },
        el('time', { datetime: entry.at.toISOString(), text: entry.at.toLocaleTimeString() }),
        entry.revision != null ? el('span', { class: 'rev', text: `rev ${entry.revision}` }) : null,
        el('span', { class: 'text', text: entry.text }),
      ),
    ),
  );
}

function addLog(kind, text, revision = null) {
  log.unshift({ kind, text, revision, at: new Date() });
  log.length = Math.min(log.length, LOG_MAX);
  renderLog();
}

function render(state) {
  renderHeader(state);
  renderErrors(state);
  renderWorkflows(state);
  renderIntegrations(state);
}

// ---- toasts ---------------------------------------------------------------

function dismiss(toast) {
  if (!toast.isConnected) return;
  clearTimeout(toast._timer);
  toast.remove();
}

function armTimer(toast) {
  clearTimeout(toast._timer);
  if (toast.classList.contains('sticky') || toast.classList.contains('expanded')) return;
  toast._timer = setTimeout(() => {
    if (toast.matches(':hover, :focus-within')) armTimer(toast);
    else dismiss(toast);
  }, TOAST_MS);
}

/**
 * @param {{tone: 'ok'|'info'|'error', title: string, lines?: Node[], details?: () => Node, alert?: boolean, sticky?: boolean, key?: string}} t
 */
function toast(t) {
  const toasts = $('toasts');
  if (t.key) for (const old of toasts.querySelectorAll(`[data-key="${CSS.escape(t.key)}"]`)) dismiss(old);
  const node = el('div', {
    class: `toast ${t.tone} ${t.sticky ? 'sticky' : ''}`,
    role: t.alert ? 'alert' : 'status',
    'aria-live': t.alert ? 'assertive' : 'polite',
    'data-key': t.key,
    tabindex: '-1',
  });
  const head = el('div', { class: 'toast-head' }, el('strong', { class: 'toast-title', text: t.title }));
  const close = el('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', text: '×', onclick: () => dismiss(node) });
  head.append(close);
  node.append(head, ...(t.lines ?? []));
  if (t.details) {
    const body = el('div', { class: 'toast-details', hidden: true });
    const toggle = el('button', { type: 'button', class: 'expand', 'aria-expanded': 'false', text: 'Show diff' });
    toggle.addEventListener('click', () => {
      const open = body.hidden;
      if (open && body.childElementCount === 0) body.append(t.details());
      body.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Hide diff' : 'Show diff';
      node.classList.toggle('expanded', open);
      armTimer(node);
    });
    node.append(toggle, body);
  }
  node.addEventListener('mouseleave', () => armTimer(node));
  toasts.append(node);
  armTimer(node);
  return node;
}

document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  const toasts = [...$('toasts').children];
  const focused = toasts.find((t) => t.contains(document.activeElement));
  const target = focused ?? toasts[toasts.length - 1];
  if (target) {
    dismiss(target);
    e.preventDefault();
  }
});

function diffView(frame) {
  const shown = frame.patches.slice(0, DIFF_PATCHES_SHOWN);
  const parts = shown.map((p) => {
    const changes = p.changes.length
      ? el(
          'ul',
          { class: 'changes' },
          p.changes.map((c) =>
            el(
              'li',
              { 'data-op': c.op },
              el('code', { class: 'path', text: c.path }),
              el('span', { class: 'op', text: c.op }),
              c.op === 'add' ? null : el('del', { text: show(c.old) }),
              c.op === 'add' || c.op === 'replace' || c.op === 'rename' ? ' → ' : null,
              c.op === 'remove' ? null : el('ins', { text: show(c.new) }),
              c.line ? el('span', { class: 'line-ref', text: `line ${c.line}` }) : null,
            ),
          ),
        )
      : null;
    const rows = [];
    for (const h of p.diff?.hunks ?? []) {
      rows.push(
        el('tr', { class: 'hunk' }, el('td', { colspan: '4', text: `@@ -${h.old_start},${h.old_lines} +${h.new_start},${h.new_lines} @@` })),
      );
      for (const l of h.lines) {
        const sign = l.tag === 'insert' ? '+' : l.tag === 'delete' ? '-' : ' ';
        rows.push(
          el(
            'tr',
            { class: `line ${l.tag}` },
            el('td', { class: 'ln old', text: l.old_line ?? '' }),
            el('td', { class: 'ln new', text: l.new_line ?? '' }),
            el('td', { class: 'sign', 'aria-label': l.tag === 'equal' ? null : l.tag === 'insert' ? 'added' : 'removed', text: sign }),
            el('td', { class: 'text' }, el('code', { text: l.text.replace(/\n$/, '') })),
          ),
        );
      }
    }
    return el(
      'section',
      { class: 'patch', 'data-id': p.id },
      el('h4', {}, `${p.kind} `, el('code', { text: p.id }), ` ${p.op} · `, el('span', { class: 'file', text: p.file }),
        p.git?.differs_from_head ? el('span', { class: 'badge', text: 'differs from HEAD' }) : null),
      changes,
      rows.length ? el('table', { class: 'diff' }, el('tbody', {}, rows)) : null,
      p.diff?.timed_out ? el('p', { class: 'note', text: 'the line diff took too long and shows the file as replaced' }) : null,
    );
  });
  if (frame.patches.length > shown.length) {
    parts.push(el('p', { class: 'note', text: `and ${frame.patches.length - shown.length} more` }));
  }
  return el('div', {}, parts);
}

function errorView(e) {
  const lines = [
    el('p', { class: 'where' }, el('code', { class: 'pos', text: `${e.file}:${e.line}:${e.column}` }), ` ${e.kind}`),
    el('p', { class: 'message', text: e.message }),
  ];
  if (e.excerpt != null) {
    lines.push(
      el(
        'pre',
        { class: 'excerpt' },
        el('span', { class: 'ln', text: String(e.line).padStart(4) }),
        ' ',
        el('code', { text: e.excerpt }),
        '\n',
        el('span', { class: 'caret', 'aria-hidden': 'true', text: `${' '.repeat(5 + Math.max(0, e.column - 1))}^` }),
      ),
    );
  }
  return lines;
}

function reloadTitle(frame) {
  return `${frame.summary} · rev ${frame.revision}`;
}

function onReload(frame, state, previous) {
  const now = Date.now();
  for (const p of frame.patches) {
    marks.set(`${p.kind}:${p.id}`, now + MARK_MS);
    for (const c of p.changes) {
      const m = /^steps\[id=([^\]]+)\]/.exec(c.path);
      if (m && p.kind === 'workflow') marks.set(`step:${p.id}:${m[1]}`, now + MARK_MS);
    }
  }
  for (const e of frame.errors) marks.set(`error:${e.file}`, now + MARK_MS);
  // The client rendered the new state before this callback; render again
  // with the marks, and once more when they run out.
  render(state);
  setTimeout(() => render(client.getState()), MARK_MS + 50);

  const introduced = errorsIntroduced(frame);
  const fixed = filesFixed(previous.errors, frame);
  for (const f of fixed) {
    for (const old of $('toasts').querySelectorAll(`[data-key="${CSS.escape(`error:${f}`)}"]`)) dismiss(old);
  }
  const byFile = new Map();
  for (const e of introduced) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  for (const [file, errors] of byFile) {
    toast({
      tone: 'error',
      alert: true,
      sticky: true,
      key: `error:${file}`,
      title: `${file}: ${errors.length === 1 ? '1 error' : `${errors.length} errors`} · rev ${frame.revision}`,
      lines: [
        ...errors.slice(0, 3).flatMap(errorView),
        el('p', { class: 'note', text: 'The last good version stays in force until the file is fixed.' }),
      ],
    });
  }
  if (frame.patches.length > 0 || (introduced.length === 0 && fixed.length === 0)) {
    toast({
      tone: fixed.length ? 'ok' : 'info',
      title: reloadTitle(frame),
      lines: fixed.length ? [el('p', { class: 'fixed', text: `fixed: ${fixed.join(', ')}` })] : [],
      details: frame.patches.length ? () => diffView(frame) : null,
    });
  } else if (fixed.length > 0) {
    toast({ tone: 'ok', title: `fixed: ${fixed.join(', ')} · rev ${frame.revision}`, lines: [el('p', { text: frame.summary })] });
  }
  addLog(introduced.length ? 'error' : 'reload', `${frame.cause.kind}: ${frame.summary}`, frame.revision);
}

function onIntegrationStatus(frame) {
  const detail = [frame.http_status ? `HTTP ${frame.http_status}` : null, frame.latency_ms != null ? `${frame.latency_ms} ms` : null]
    .filter(Boolean)
    .join(' · ');
  if (frame.status === 'ok' || frame.status === 'failed') {
    toast({
      tone: frame.status === 'ok' ? 'ok' : 'error',
      alert: frame.status === 'failed',
      key: `integration:${frame.id}`,
      title: `${frame.id}: connection ${frame.status === 'ok' ? 'ok' : 'failed'}${detail ? ` · ${detail}` : ''}`,
      lines: frame.detail ? [el('p', { class: 'detail', text: frame.detail })] : [],
    });
  }
  marks.set(`integration:${frame.id}`, Date.now() + MARK_MS);
  render(client.getState());
  addLog(frame.status === 'failed' ? 'error' : 'integration', `${frame.id}: ${frame.status}${frame.detail ? ` (${frame.detail})` : ''}`, frame.revision);
}

// ---- wiring ---------------------------------------------------------------

let wasOpen = false;

function loadRepository() {
  api('/api/v1/dev/hot-reload/status')
    .then((s) => {
      $('repo').textContent = s.root ?? '—';
      $('repo').title = s.watcher ? `watcher: ${s.watcher.backend}${s.watcher.healthy ? '' : ' (unhealthy)'}` : '';
      showGitWait(s.watcher?.waiting_for_git);
    })
    .catch(() => {
      // The header keeps what it had; the connection pill tells the story.
    });
}

// A save held behind a git lock makes no frame: the page asks the status
// every few seconds, while visible, so "waiting for git" shows.
function showGitWait(text) {
  $('git-wait').hidden = !text;
  $('git-wait').textContent = text ? `${text}: changes apply when git finishes` : '';
}
setInterval(() => {
  if (document.visibilityState === 'visible') loadRepository();
}, 2000);

const client = createClient({
  baseUrl: location.origin,
  token,
  onReload,
  onIntegrationStatus,
  onSnapshot: (frame) => {
    for (const i of frame.integrations) if (i.status) marks.delete(`integration:${i.id}`);
    addLog('snapshot', `loaded ${frame.workflows.length} workflows, ${frame.integrations.length} integrations`, frame.revision);
  },
  onResync: (reason) => addLog('resync', `resyncing: ${reason}`),
  onStatus: (status, state) => {
    if (status === 'open') {
      loadRepository();
      if (wasOpen) addLog('connection', `reconnected; resuming after revision ${state.revision ?? '—'}`);
      wasOpen = true;
    } else if (status === 'reconnecting' && state.attempt === 1 && wasOpen) {
      addLog('connection', 'disconnected from the server');
    } else if (status === 'paused') {
      addLog('connection', 'paused while the tab is hidden');
    }
  },
});

client.subscribe(render);
$('retry').addEventListener('click', () => client.reconnectNow());
window.qaReload = { client };
client.start();
