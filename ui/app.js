// The page served at `/`: renders what the shared client core
// (`/hooks/client.js`, the same module the React hook uses) holds, and turns
// its frames into toasts. It keeps no connection or patch logic of its own
// and never navigates: every change is applied in place.
//
// Only what changed is redrawn: the workflow and error lists are windowed
// (`list.js`), so the DOM holds the rows in view whatever the repository's
// size, and a reload frame rebuilds only the rows whose entity it replaced
// (the core keeps the identity of every entity no patch named).
//
// This module wires the page together: the client core's frames become
// marks, toasts and log lines, and it draws the workflow and error lists.
// The page's own state lives in `state.js`; the filter in `finder.js`; row
// sizes in `geometry.js`; a workflow row in `rows.js`; toasts, the diff view, the integrations table and
// the connection banner in modules of their own; runs in `runs.js`.

import { createClient, errorsIntroduced, filesFixed } from '/hooks/client.js';
import { diffView, errorView, patchSection } from '/ui/diff.js';
import { renderHeader } from '/ui/connection.js';
import { $, el, localTime, plural } from '/ui/dom.js';
import { parseQuery, sortKey } from '/ui/finder.js';
import { ERROR_ROW, ERRORS_BOX_MAX, shareGeometry } from '/ui/geometry.js';
import { renderIntegrations, statusFacts } from '/ui/integrations.js';
import { WindowedList } from '/ui/list.js';
import { buildRow, rowHeight, rowSignature } from '/ui/rows.js';
import { createRuns } from '/ui/runs.js';
import { mark, markOf, page } from '/ui/state.js';
import { armTimer, dismissCurrent, dismissKey, toast } from '/ui/toasts.js';

shareGeometry(document.documentElement);

/** Reloads of one entity closer together than this update one toast. */
const COALESCE_MS = 5000;
const LOG_MAX = 50;
/** Patches above which a reload frame is drawn in the next animation frame. */
const BIG_FRAME = 64;
/** How often the runs are read again while the page is visible. */
const RUNS_POLL_MS = 2000;

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

page.redraw = () => scheduleRender();

function api(path) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  return fetch(path, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${path}: ${r.status}`))));
}

// ---- the workflow list ------------------------------------------------------

const workflowBox = $('workflows');
const workflows = new WindowedList(workflowBox, {
  key: (w) => w.id,
  height: rowHeight,
  signature: rowSignature,
  build: (w) => buildRow(w, currentErrors),
  // The box is as tall as its rows, up to most of the window.
  onLayout: (total) => {
    workflowBox.style.height = `${Math.round(Math.max(120, Math.min(total + 10, innerHeight * 0.7)))}px`;
  },
});

workflowBox.addEventListener('click', (e) => {
  const start = e.target.closest('button.start-run');
  if (start) {
    const w = findWorkflow(client.getState().workflows, start.closest('article.workflow')?.dataset.id);
    if (w) runs.start(w.id, w.definition?.name ?? w.id);
    return;
  }
  const button = e.target.closest('button.row-toggle');
  if (!button) return;
  const id = button.closest('article.workflow')?.dataset.id;
  if (!id) return;
  const panel = button.dataset.panel;
  if (page.openPanels.get(id) === panel) page.openPanels.delete(id);
  else page.openPanels.set(id, panel);
  workflows.layout();
  workflows.paint();
});

// ---- the errors list --------------------------------------------------------

const errorBox = $('errors');
const errorList = new WindowedList(errorBox, {
  key: (e) => e.key,
  height: () => ERROR_ROW,
  onLayout: (total) => {
    errorBox.style.height = `${Math.min(total, ERRORS_BOX_MAX)}px`;
  },
  signature: (e) => (markOf(`error:${e.error.file}`) ? 'm' : '') + (e.focused ? 'f' : ''),
  build: ({ error: e, focused }) => {
    const node = el(
      'li',
      {
        class: `error ${e.severity === 'warning' ? 'warning' : ''} ${markOf(`error:${e.file}`) ? 'changed' : ''} ${focused ? 'focused' : ''}`,
        title: `${e.file}:${e.line}:${e.column} ${e.message}`,
      },
      el('code', { class: 'pos', text: `${e.file}:${e.line}:${e.column}` }),
      el('span', { class: 'kind', text: e.severity === 'warning' ? `warning (${e.kind})` : e.kind }),
      el('span', { class: 'message', text: e.message }),
    );
    return node;
  },
});

function currentErrors() {
  return client.getState().errors;
}

// ---- rendering ----------------------------------------------------------------

let shownErrors = null;

function renderErrors(state, force) {
  const errors = state.errors;
  if (errors === shownErrors && !force) {
    errorList.paint();
    return;
  }
  shownErrors = errors;
  page.errorIds = new Set(errors.filter((e) => e.severity === 'error' && e.entity?.kind === 'workflow').map((e) => e.entity.id));
  page.errorFiles = new Set(errors.filter((e) => e.severity === 'error').map((e) => e.file));
  $('error-count').textContent = String(state.errorsTotal);
  $('errors-empty').hidden = errors.length > 0;
  const truncated = $('errors-truncated');
  truncated.hidden = !state.errorsTruncated;
  if (state.errorsTruncated) {
    truncated.replaceChildren(
      `Showing ${errors.length} of ${state.errorsTotal} (the first 100 of each file). Every one: `,
      el('code', { text: 'GET /api/v1/dev/hot-reload/status?errors=all' }),
    );
  }
  errorList.setItems(
    errors.map((error, i) => ({ key: `${i}:${error.file}:${error.line}:${error.column}:${error.message}`, error, focused: page.focusedError === error })),
  );
  errorList.paint();
}

function filterText() {
  return $('filter').value;
}

function renderWorkflows(state) {
  const query = filterText();
  const sort = $('sort').value;
  const errorsChanged = page.view.errors !== state.errors;
  if (page.view.source === state.workflows && page.view.query === query && page.view.sort === sort && !errorsChanged && !page.view.full) {
    workflows.paint();
    return;
  }
  const tests = parseQuery(query);
  const fits = (w) => tests.every((t) => t(w));
  let partial = !page.view.full && page.view.query === query && page.view.sort === sort && !(errorsChanged && tests.length > 0);
  if (partial && page.view.source !== state.workflows) {
    // Only patched entities changed: swap them in place when they keep
    // their place in the order and in the filter.
    for (const id of page.view.ids) {
      const w = findWorkflow(state.workflows, id);
      const i = workflows.index.get(id);
      if (w === undefined || (i === undefined ? fits(w) : !fits(w) || sortKey(w, sort) !== sortKey(workflows.items[i], sort))) {
        partial = false;
        break;
      }
      if (i !== undefined) workflows.replace(i, w);
    }
  }
  if (partial) {
    workflows.layout();
  } else {
    const shown = tests.length ? state.workflows.filter(fits) : state.workflows;
    const keyed = shown.map((w) => [sortKey(w, sort), w]);
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    workflows.setItems(keyed.map((k) => k[1]));
    // A new filter or order starts at its first match.
    if (page.view.query !== query || page.view.sort !== sort) workflowBox.scrollTop = 0;
  }
  Object.assign(page.view, { source: state.workflows, query, sort, errors: state.errors, full: false, ids: new Set() });
  const total = state.workflows.length;
  $('workflow-count').textContent = String(total);
  $('match-count').textContent = query.trim() ? `${workflows.items.length} of ${total} match` : `${total} shown`;
  $('workflows-empty').hidden = workflows.items.length > 0 || total === 0;
  workflows.paint();
}

/** The workflow with `id` in `list` (sorted by id, as the core keeps it). */
function findWorkflow(list, id) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return list[lo]?.id === id ? list[lo] : undefined;
}

function renderLog() {
  $('log').replaceChildren(
    ...page.log.map((entry) =>
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
  page.log.unshift({ kind, text, revision, at: new Date() });
  page.log.length = Math.min(page.log.length, LOG_MAX);
  renderLog();
}

let renderFrame = 0;
let marksSeen = 0;

/** Draws on the next animation frame: several state changes, one paint. */
function scheduleRender() {
  if (renderFrame) return;
  renderFrame = requestAnimationFrame(() => {
    renderFrame = 0;
    render();
  });
}

/** Draws now (a reload frame is painted in the frame it arrived in). */
function renderNow() {
  if (renderFrame) cancelAnimationFrame(renderFrame);
  renderFrame = 0;
  render();
}

function render() {
  const state = client.getState();
  // Marks change rows without changing the state: a new mark or an
  // expired one redraws the small lists whole.
  const t = Date.now();
  for (const [key, m] of page.marks) {
    if (m.until > t) continue;
    page.marks.delete(key);
    page.markEpoch += 1;
  }
  const marksMoved = page.markEpoch !== marksSeen;
  marksSeen = page.markEpoch;
  renderHeader(state, client.getState);
  renderErrors(state, marksMoved);
  renderWorkflows(state);
  renderIntegrations(state, marksMoved);
}

// ---- toasts ---------------------------------------------------------------

document.addEventListener('keydown', (e) => {
  const filter = $('filter');
  const typing = e.target instanceof HTMLElement && e.target.closest('input, textarea, select, [contenteditable]');
  if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    filter.focus();
    filter.select();
    return;
  }
  if (e.key !== 'Escape') return;
  // A dialog takes its own Escape.
  if (document.querySelector('dialog[open]')) return;
  if (e.target === filter) {
    if (filter.value !== '') setFilter('');
    filter.blur();
    e.preventDefault();
    return;
  }
  if (dismissCurrent()) e.preventDefault();
});

// ---- leading somewhere: from a toast to its entity --------------------------

function setFilter(text) {
  $('filter').value = text;
  renderWorkflows(client.getState());
}

/**
 * Brings `kind` `id` into view with `panel` open, clearing the filter when
 * it hides the entity. Returns whether the entity is on the page.
 */
function reveal(kind, id, panel) {
  const state = client.getState();
  if (kind === 'workflow') {
    if (!findWorkflow(state.workflows, id)) return false;
    renderWorkflows(state);
    if (!workflows.index.has(id)) setFilter('');
    const before = page.focusedId;
    page.focusedId = id;
    if (panel) page.openPanels.set(id, panel);
    if (before !== id || panel) workflows.layout();
    $('workflows-section').scrollIntoView({ block: 'start' });
    workflows.reveal(id);
    const node = workflows.node(id);
    node?.scrollIntoView({ block: 'nearest' });
    node?.focus({ preventScroll: true });
    return true;
  }
  if (kind === 'integration') {
    const row = $('integrations').querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (!row) return false;
    mark(`integration:${id}`);
    renderIntegrations(state, true);
    $('integrations').querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: 'center' });
    return true;
  }
  return false;
}

/** The workflow an error belongs to, or the error's row in the list. */
function revealError(file) {
  const state = client.getState();
  const error = state.errors.find((e) => e.file === file);
  const owner =
    (error?.entity?.kind === 'workflow' && findWorkflow(state.workflows, error.entity.id)) ||
    state.workflows.find((w) => w.file === file);
  if (owner && reveal('workflow', owner.id, 'errors')) return;
  if (!error) return;
  page.focusedError = error;
  renderErrors(state, true);
  $('errors-section').scrollIntoView({ block: 'start' });
  const i = state.errors.indexOf(error);
  errorBox.scrollTop = Math.max(0, i * ERROR_ROW - ERROR_ROW);
  errorList.paint();
}

// ---- frames → marks, toasts, the log ----------------------------------------

/** Live reload toasts by entity key: {node, frames, changes, at}. */
const reloadToasts = new Map();

function reloadTitle(frame) {
  return `${frame.summary} · rev ${frame.revision}`;
}

function onReload(frame, state, previous) {
  // HEAD moved: what differed from the old HEAD is not known against the
  // new one until a patch says so.
  if (frame.cause?.previous_head && page.differsFromHead.size > 0) {
    page.differsFromHead.clear();
    page.view.full = true;
  }
  for (const p of frame.patches) {
    const key = `${p.kind}:${p.id}`;
    const steps = new Set();
    for (const c of p.changes) {
      const m = /^steps\[id=([^\]]+)\]/.exec(c.path);
      if (m) steps.add(m[1]);
    }
    mark(key, steps);
    if (p.op === 'removed') {
      page.lastPatch.delete(key);
      page.openPanels.delete(p.id);
    } else {
      page.lastPatch.set(key, p);
    }
    if (p.kind === 'workflow') {
      page.changedSinceLoad.add(p.id);
      if (p.git) page.differsFromHead.set(p.id, Boolean(p.git.differs_from_head));
      page.view.ids.add(p.id);
      if (p.op !== 'modified') page.view.full = true;
    }
  }
  for (const e of frame.errors) mark(`error:${e.file}`);
  // A frame that changes many entities (a branch switch) is drawn in the
  // next animation frame, a task of its own, so neither the message
  // handler nor the redraw holds the page for long.
  if (frame.patches.length > BIG_FRAME) scheduleRender();
  else renderNow();
  runs.refresh();

  const introduced = errorsIntroduced(frame);
  const fixed = filesFixed(previous.errors, frame);
  for (const f of fixed) dismissKey(`error:${f}`);
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
      go: () => revealError(file),
    });
  }
  if (frame.patches.length === 1 && fixed.length === 0 && introduced.length === 0) {
    reloadToast(frame, frame.patches[0]);
  } else if (frame.patches.length > 0 || (introduced.length === 0 && fixed.length === 0)) {
    const first = frame.patches.find((p) => p.op !== 'removed');
    const changedWorkflows = frame.patches.filter((p) => p.kind === 'workflow' && p.op !== 'removed').length;
    const lines = fixed.length ? [el('p', { class: 'fixed', text: `fixed: ${fixed.join(', ')}` })] : [];
    const actions = [];
    if (frame.patches.length > 1) {
      lines.push(el('p', { class: 'count', text: `${plural(frame.patches.length, 'entity', 'entities')} changed` }));
      if (changedWorkflows > 0) {
        actions.push(
          el('button', {
            type: 'button',
            class: 'show-changed',
            text: `Show all changed (${changedWorkflows})`,
            onclick: () => {
              setFilter(`rev:${frame.revision}`);
              $('workflows-section').scrollIntoView({ block: 'start' });
            },
          }),
        );
      }
    }
    toast({
      tone: fixed.length ? 'ok' : 'info',
      title: reloadTitle(frame),
      lines,
      actions,
      details: frame.patches.length ? () => diffView(frame) : null,
      go: first ? () => reveal(first.kind, first.id, 'diff') : null,
    });
  } else if (fixed.length > 0) {
    toast({
      tone: 'ok',
      title: `fixed: ${fixed.join(', ')} · rev ${frame.revision}`,
      lines: [el('p', { text: frame.summary })],
      go: () => {
        const w = state.workflows.find((x) => fixed.includes(x.file));
        if (w) reveal('workflow', w.id, 'diff');
      },
    });
  }
  addLog(introduced.length ? 'error' : 'reload', `${frame.cause.kind}: ${frame.summary}`, frame.revision);
}

/** A one-entity reload: a new toast, or the same entity's recent one updated. */
function reloadToast(frame, p) {
  const key = `${p.kind}:${p.id}`;
  const now = Date.now();
  const go = p.op === 'removed' ? null : () => reveal(p.kind, p.id, 'diff');
  const held = reloadToasts.get(key);
  if (held && held.node.isConnected && now - held.at < COALESCE_MS && p.op === 'modified') {
    held.frames += 1;
    held.changes += p.changes.length;
    held.at = now;
    const { node } = held;
    node.querySelector('.toast-title').textContent = `${p.id}: ${plural(held.changes, 'change')} · rev ${frame.revision}`;
    node.querySelector('.toast-lines').replaceChildren(el('p', { class: 'saves', text: `${held.frames} saves since ${held.since}; the diff is the last one's` }));
    node._details = () => diffView(frame);
    if (node._body) {
      node._body.replaceChildren();
      if (!node._body.hidden) node._body.append(diffView(frame));
    }
    node.classList.remove('bump');
    void node.offsetWidth;
    node.classList.add('bump');
    armTimer(node);
    return;
  }
  const node = toast({
    tone: 'info',
    title: reloadTitle(frame),
    key: `reload:${key}`,
    details: () => diffView(frame),
    go,
  });
  reloadToasts.set(key, { node, frames: 1, changes: p.changes.length, at: now, since: new Date(now).toLocaleTimeString() });
}

function onIntegrationStatus(frame) {
  const detail = statusFacts(frame);
  if (frame.status === 'ok' || frame.status === 'failed' || frame.status === 'rate_limited') {
    const title = { ok: 'connection ok', failed: 'connection failed', rate_limited: `rate limited until ${localTime(frame.retry_at)}` }[frame.status];
    toast({
      tone: frame.status === 'ok' ? 'ok' : 'error',
      alert: frame.status !== 'ok',
      key: `integration:${frame.id}`,
      title: `${frame.id}: ${title}${detail ? ` · ${detail}` : ''}`,
      lines: frame.detail ? [el('p', { class: 'detail', text: frame.detail })] : [],
      go: () => reveal('integration', frame.id),
    });
  }
  mark(`integration:${frame.id}`);
  scheduleRender();
  addLog(frame.status === 'ok' || frame.status === 'testing' ? 'integration' : 'error', `${frame.id}: ${frame.status}${frame.detail ? ` (${frame.detail})` : ''}`, frame.revision);
}

// ---- runs (ui/runs.js) --------------------------------------------------------

let runsTimer = null;

const runs = createRuns({
  box: $('runs'),
  heading: $('h-runs'),
  count: $('run-count'),
  empty: $('runs-empty'),
  status: $('runs-status'),
  dialog: $('discard-dialog'),
  token,
  el,
  patchSection,
  onOlderRuns: (older) => {
    const before = JSON.stringify([...page.olderRuns]);
    page.olderRuns = older;
    if (JSON.stringify([...older]) !== before) scheduleRender();
  },
});

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
    for (const i of frame.integrations) if (i.status) page.marks.delete(`integration:${i.id}`);
    page.view.full = true;
    addLog('snapshot', `loaded ${frame.workflows.length} workflows, ${frame.integrations.length} integrations`, frame.revision);
  },
  onResync: (reason) => addLog('resync', `resyncing: ${reason}`),
  onStatus: (status, state) => {
    clearInterval(runsTimer);
    runsTimer = null;
    if (status === 'open') {
      loadRepository();
      runs.refresh();
      runsTimer = setInterval(() => {
        if (document.visibilityState === 'visible') runs.refresh();
      }, RUNS_POLL_MS);
      if (wasOpen) addLog('connection', `reconnected; resuming after revision ${state.revision ?? '—'}`);
      wasOpen = true;
    } else if (status === 'reconnecting' && state.attempt === 1 && wasOpen) {
      addLog('connection', 'disconnected from the server');
    } else if (status === 'paused') {
      addLog('connection', 'paused while the tab is hidden');
    }
  },
});

client.subscribe(scheduleRender);
$('retry').addEventListener('click', () => client.reconnectNow());
$('filter').addEventListener('input', scheduleRender);
$('sort').addEventListener('change', scheduleRender);
window.addEventListener('resize', () => {
  workflows.schedule();
  errorList.schedule();
});
window.qaReload = { client, workflows, errors: errorList, runs };
client.start();
