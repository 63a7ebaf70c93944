// The page served at `/`: renders what the shared client core
// (`/hooks/client.js`, the same module the React hook uses) holds, and turns
// its frames into toasts. It keeps no connection or patch logic of its own
// and never navigates: every change is applied in place.
//
// Only what changed is redrawn: the workflow and error lists are windowed
// (`list.js`), so the DOM holds the rows in view whatever the repository's
// size, and a reload frame rebuilds only the rows whose entity it replaced
// (the core keeps the identity of every entity no patch named).

import { createClient, errorsIntroduced, filesFixed } from '/hooks/client.js';
import { WindowedList } from '/ui/list.js';
import { createRuns } from '/ui/runs.js';

const $ = (id) => document.getElementById(id);
const MARK_MS = 4000;
const TOAST_MS = 12000;
/** Reloads of one entity closer together than this update one toast. */
const COALESCE_MS = 5000;
const LOG_MAX = 50;
/** Patches above which a reload frame is drawn in the next animation frame. */
const BIG_FRAME = 64;
/** A frame with more patches than this gets a summary and diffs on demand. */
const DIFF_PATCHES_SHOWN = 20;
/** Entities listed in a large diff's summary (each diff built when opened). */
const DIFF_ENTRIES_LISTED = 200;
/** Steps drawn in a workflow row; the rest are counted. */
const STEPS_SHOWN = 30;
/** How often the runs are read again while the page is visible. */
const RUNS_POLL_MS = 2000;

// Row geometry (px); style.css draws rows to exactly these sizes.
const ROW = { chrome: 18, header: 26, line: 20, stepsTop: 4, step: 22, detail: 268, gap: 8 };
const ERROR_ROW = 30;
const ERRORS_BOX_MAX = 300;

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

/** Marks of rows changed by the last reloads: key → {until, steps}. */
const marks = new Map();
const log = [];
/** Workflow ids a reload touched since the page loaded. */
const changedSinceLoad = new Set();
/** Workflow id → whether its file differs from HEAD, as the last patch said. */
const differsFromHead = new Map();
/** Entity key (`workflow:id`) → the last patch that changed it. */
const lastPatch = new Map();
/** Workflow id → the panel open in its row (`diff` or `errors`). */
const openPanels = new Map();
let focusedId = null;
/** Workflow id → runs in progress on an older definition of it. */
let olderRuns = new Map();

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

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function markOf(key) {
  const m = marks.get(key);
  return m !== undefined && m.until > Date.now() ? m : null;
}

let unmarkTimer = null;
/** Bumped whenever a mark is set or runs out. */
let markEpoch = 0;

/** Marks `key` as just changed; one redraw follows when the marks run out. */
function mark(key, steps = new Set()) {
  marks.set(key, { until: Date.now() + MARK_MS, steps });
  markEpoch += 1;
  if (unmarkTimer === null) unmarkWhenDue(MARK_MS);
}

/** Redraws when the next mark runs out, and again while marks remain. */
function unmarkWhenDue(ms) {
  unmarkTimer = setTimeout(() => {
    unmarkTimer = null;
    scheduleRender();
    const t = Date.now();
    let next = Infinity;
    for (const m of marks.values()) if (m.until > t) next = Math.min(next, m.until);
    if (next !== Infinity) unmarkWhenDue(next - t);
  }, ms + 50);
}

function api(path) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  return fetch(path, { headers }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${path}: ${r.status}`))));
}

// ---- finding: natural sort keys and the filter ------------------------------

/** A key that sorts `w2` before `w10` with a plain string comparison. */
function natural(s) {
  return String(s)
    .toLowerCase()
    .replace(/\d+/g, (d) => {
      const digits = d.replace(/^0+(?=\d)/, '');
      return String.fromCharCode(0x30 + Math.min(digits.length, 60)) + digits;
    });
}

/**
 * What the list needs of a workflow, made once per version (the core keeps
 * an unchanged workflow's object): its row height and sort keys, and the
 * lower-cased text the filter searches, each made when first asked for.
 */
class Meta {
  constructor(w) {
    this.w = w;
    const d = w.definition ?? {};
    const steps = d.steps?.length ?? 0;
    this.height =
      ROW.chrome +
      ROW.header +
      (d.description ? ROW.line : 0) +
      (d.ticket_types?.length ? ROW.line : 0) +
      ROW.stepsTop +
      Math.min(steps, STEPS_SHOWN) * ROW.step +
      (steps > STEPS_SHOWN ? ROW.line : 0) +
      ROW.gap;
  }

  get displayName() {
    return String(this.w.definition?.name ?? this.w.id);
  }

  get nameKey() {
    return (this._nameKey ??= `${natural(this.displayName)}\u0000${natural(this.w.id)}`);
  }

  get fileKey() {
    return (this._fileKey ??= `${natural(this.w.file)}\u0000${natural(this.w.id)}`);
  }

  get search() {
    if (this._search) return this._search;
    const w = this.w;
    const d = w.definition ?? {};
    const steps = d.steps ?? [];
    const stepText = steps.map((s) => `${s.id} ${s.name}`).join('\n').toLowerCase();
    const integrations = [...new Set(steps.map((s) => s.integration).filter(Boolean))].join(' ').toLowerCase();
    this._search = {
      id: w.id.toLowerCase(),
      name: this.displayName.toLowerCase(),
      file: String(w.file).toLowerCase(),
      steps: stepText,
      integrations,
      text: [w.id, this.displayName, w.file, d.description ?? '', stepText, integrations].join('\n').toLowerCase(),
    };
    return this._search;
  }
}

const metaCache = new WeakMap();

function meta(w) {
  let m = metaCache.get(w);
  if (!m) {
    m = new Meta(w);
    metaCache.set(w, m);
  }
  return m;
}

const FIELDS = ['id', 'name', 'file', 'step', 'integration'];

/**
 * The filter box's text as tests: `id:`, `name:`, `file:`, `step:`,
 * `integration:` match that field, `is:error`, `is:changed` (since the page
 * loaded), `is:dirty` (differs from HEAD) and `rev:N` (changed by revision
 * N) match a state, any other word matches any field.
 */
function parseQuery(text) {
  const tests = [];
  for (const word of text.trim().toLowerCase().split(/\s+/).filter(Boolean)) {
    const m = /^([a-z]+):(.*)$/.exec(word);
    const [field, value] = m ? [m[1], m[2]] : ['', word];
    if (FIELDS.includes(field) && value) {
      const key = field === 'step' ? 'steps' : field === 'integration' ? 'integrations' : field;
      tests.push((w) => meta(w).search[key].includes(value));
    } else if (field === 'is' || field === 'has') {
      if (value === 'error' || value === 'errors') tests.push((w) => hasErrors(w));
      else if (value === 'changed') tests.push((w) => changedSinceLoad.has(w.id));
      else if (value === 'dirty' || value === 'differs') tests.push((w) => differsFromHead.get(w.id) === true);
      else tests.push(() => false);
    } else if (field === 'rev' && /^\d+$/.test(value)) {
      const rev = Number(value);
      tests.push((w) => w.revision === rev);
    } else {
      tests.push((w) => meta(w).search.text.includes(word));
    }
  }
  return tests;
}

function sortKey(w, by) {
  const m = meta(w);
  if (by === 'file') return m.fileKey;
  if (by === 'changed') return `${String(1e12 - (w.revision ?? 0)).padStart(13, '0')}${m.nameKey}`;
  return m.nameKey;
}

let errorIds = new Set();
let errorFiles = new Set();

function hasErrors(w) {
  return errorIds.has(w.id) || errorFiles.has(w.file);
}

// ---- the workflow list ------------------------------------------------------

function rowHeight(w) {
  return meta(w).height + (openPanels.has(w.id) ? ROW.detail : 0);
}

function rowSignature(w) {
  const m = markOf(`workflow:${w.id}`);
  return [
    m ? m.until : 0,
    openPanels.get(w.id) ?? '',
    hasErrors(w) ? 'e' : '',
    differsFromHead.get(w.id) ? 'd' : '',
    olderRuns.get(w.id) ?? 0,
    focusedId === w.id ? 'f' : '',
  ].join('|');
}

function buildRow(w) {
  const d = w.definition ?? {};
  const m = markOf(`workflow:${w.id}`);
  const steps = d.steps ?? [];
  const older = olderRuns.get(w.id) ?? 0;
  const panel = openPanels.get(w.id);
  const patch = lastPatch.get(`workflow:${w.id}`);
  const node = el(
    'article',
    {
      class: `workflow ${m ? 'changed' : ''} ${focusedId === w.id ? 'focused' : ''}`,
      'data-id': w.id,
      tabindex: '-1',
    },
    el(
      'header',
      {},
      el('h3', { text: d.name ?? w.id }),
      el('code', { class: 'id', text: w.id }),
      el('span', { class: 'file', text: `${w.file} · rev ${w.revision}` }),
      hasErrors(w) ? el('span', { class: 'badge has-errors', text: 'errors' }) : null,
      differsFromHead.get(w.id) ? el('span', { class: 'badge dirty', text: 'differs from HEAD' }) : null,
      older ? el('span', { class: 'badge older-runs', text: `${plural(older, 'run')} on an older definition` }) : null,
      el('button', { type: 'button', class: 'start-run', 'aria-label': `Start a trial run of ${d.name ?? w.id}`, text: 'Start a trial run' }),
      patch ? el('button', { type: 'button', class: 'row-toggle', 'data-panel': 'diff', 'aria-expanded': String(panel === 'diff'), text: 'diff' }) : null,
      hasErrors(w) ? el('button', { type: 'button', class: 'row-toggle', 'data-panel': 'errors', 'aria-expanded': String(panel === 'errors'), text: 'errors' }) : null,
    ),
    d.description ? el('p', { class: 'description', text: d.description }) : null,
    d.ticket_types?.length ? el('p', { class: 'tickets', text: `ticket types: ${d.ticket_types.join(', ')}` }) : null,
    el(
      'ol',
      { class: 'steps' },
      steps.slice(0, STEPS_SHOWN).map((s) =>
        el(
          'li',
          { class: `step ${m?.steps.has(s.id) ? 'changed' : ''}`, 'data-step': s.id },
          el('span', { class: 'step-name', text: s.name }),
          el('code', { class: 'step-id', text: s.id }),
          el('span', { class: 'minutes', text: `${s.estimated_minutes} min` }),
          s.integration ? el('span', { class: 'badge integration', text: s.integration }) : null,
          s.checklist?.length ? el('span', { class: 'checklist', text: `${s.checklist.length} checks` }) : null,
        ),
      ),
    ),
    steps.length > STEPS_SHOWN ? el('p', { class: 'more', text: `and ${steps.length - STEPS_SHOWN} more steps` }) : null,
    panel ? rowPanel(w, panel, patch) : null,
  );
  node.style.height = `${rowHeight(w) - ROW.gap}px`;
  return node;
}

function rowPanel(w, panel, patch) {
  const body =
    panel === 'diff'
      ? patch
        ? patchSection(patch)
        : el('p', { class: 'note', text: 'no change since the page loaded' })
      : el('div', {}, currentErrors().filter((e) => e.file === w.file || (e.entity?.kind === 'workflow' && e.entity.id === w.id)).flatMap(errorView));
  return el('div', { class: `row-detail ${panel}`, 'data-panel': panel }, body);
}

const workflowBox = $('workflows');
const workflows = new WindowedList(workflowBox, {
  key: (w) => w.id,
  height: rowHeight,
  signature: rowSignature,
  build: buildRow,
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
  if (openPanels.get(id) === panel) openPanels.delete(id);
  else openPanels.set(id, panel);
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
let focusedError = null;

function currentErrors() {
  return client.getState().errors;
}

// ---- rendering ----------------------------------------------------------------

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
  const key = down ? `${state.attempt}:${state.retryAt}` : null;
  if (key === bannerShown) return;
  bannerShown = key;
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

let shownErrors = null;

function renderErrors(state, force) {
  const errors = state.errors;
  if (errors === shownErrors && !force) {
    errorList.paint();
    return;
  }
  shownErrors = errors;
  errorIds = new Set(errors.filter((e) => e.severity === 'error' && e.entity?.kind === 'workflow').map((e) => e.entity.id));
  errorFiles = new Set(errors.filter((e) => e.severity === 'error').map((e) => e.file));
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
    errors.map((error, i) => ({ key: `${i}:${error.file}:${error.line}:${error.column}:${error.message}`, error, focused: focusedError === error })),
  );
  errorList.paint();
}

/** What the workflow list shows: the filter and sort it was made with, and its source. */
const view = { source: null, query: null, sort: null, errors: null, full: true, ids: new Set() };

function filterText() {
  return $('filter').value;
}

function renderWorkflows(state) {
  const query = filterText();
  const sort = $('sort').value;
  const errorsChanged = view.errors !== state.errors;
  if (view.source === state.workflows && view.query === query && view.sort === sort && !errorsChanged && !view.full) {
    workflows.paint();
    return;
  }
  const tests = parseQuery(query);
  const fits = (w) => tests.every((t) => t(w));
  let partial = !view.full && view.query === query && view.sort === sort && !(errorsChanged && tests.length > 0);
  if (partial && view.source !== state.workflows) {
    // Only patched entities changed: swap them in place when they keep
    // their place in the order and in the filter.
    for (const id of view.ids) {
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
    if (view.query !== query || view.sort !== sort) workflowBox.scrollTop = 0;
  }
  Object.assign(view, { source: state.workflows, query, sort, errors: state.errors, full: false, ids: new Set() });
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

let shownIntegrations = null;

/** What a connection status shows as its badge. */
const STATUS_TEXT = { rate_limited: 'rate limited' };

function localTime(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : null;
}

/** The step, HTTP status and latency of a connection status, one line. */
function statusFacts(st) {
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

function renderIntegrations(state, force) {
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
  for (const [key, m] of marks) {
    if (m.until > t) continue;
    marks.delete(key);
    markEpoch += 1;
  }
  const marksMoved = markEpoch !== marksSeen;
  marksSeen = markEpoch;
  renderHeader(state);
  renderErrors(state, marksMoved);
  renderWorkflows(state);
  renderIntegrations(state, marksMoved);
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
 * @param {{tone: 'ok'|'info'|'error', title: string, lines?: Node[], details?: () => Node, alert?: boolean, sticky?: boolean, key?: string, go?: () => void}} t
 */
function toast(t) {
  const toasts = $('toasts');
  if (t.key) for (const old of toasts.querySelectorAll(`[data-key="${CSS.escape(t.key)}"]`)) dismiss(old);
  const node = el('div', {
    class: `toast ${t.tone} ${t.sticky ? 'sticky' : ''} ${t.go ? 'leads' : ''}`,
    role: t.alert ? 'alert' : 'status',
    'aria-live': t.alert ? 'assertive' : 'polite',
    'data-key': t.key,
    tabindex: '-1',
  });
  const head = el('div', { class: 'toast-head' }, el('strong', { class: 'toast-title', text: t.title }));
  const close = el('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', text: '×', onclick: () => dismiss(node) });
  head.append(close);
  node.append(head, el('div', { class: 'toast-lines' }, t.lines ?? []));
  const actions = el('div', { class: 'toast-actions' });
  if (t.go) {
    actions.append(el('button', { type: 'button', class: 'goto', text: 'Show in list', onclick: t.go }));
    // A click anywhere on the toast but its controls and diff leads there too.
    node.addEventListener('click', (e) => {
      if (e.target.closest('button, .toast-details, a, summary')) return;
      node._go?.();
    });
    node._go = t.go;
  }
  for (const a of t.actions ?? []) actions.append(a);
  node.append(actions);
  if (t.details) {
    const body = el('div', { class: 'toast-details', hidden: true });
    const toggle = el('button', { type: 'button', class: 'expand', 'aria-expanded': 'false', text: 'Show diff' });
    node._details = t.details;
    node._body = body;
    toggle.addEventListener('click', () => {
      const open = body.hidden;
      if (open && body.childElementCount === 0) body.append(node._details());
      body.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Hide diff' : 'Show diff';
      node.classList.toggle('expanded', open);
      armTimer(node);
    });
    actions.prepend(toggle);
    node.append(body);
  }
  node.addEventListener('mouseleave', () => armTimer(node));
  toasts.append(node);
  armTimer(node);
  return node;
}

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
  const toasts = [...$('toasts').children];
  const focused = toasts.find((t) => t.contains(document.activeElement));
  const target = focused ?? toasts[toasts.length - 1];
  if (target) {
    dismiss(target);
    e.preventDefault();
  }
});

function changeLine(c) {
  return el(
    'li',
    { 'data-op': c.op },
    el('code', { class: 'path', text: c.path }),
    el('span', { class: 'op', text: c.op }),
    c.op === 'add' ? null : el('del', { text: show(c.old) }),
    c.op === 'add' || c.op === 'replace' || c.op === 'rename' ? ' → ' : null,
    c.op === 'remove' ? null : el('ins', { text: show(c.new) }),
    c.line ? el('span', { class: 'line-ref', text: `line ${c.line}` }) : null,
  );
}

/** One entity's change: its semantic changes and its line diff. */
function patchSection(p) {
  const rows = [];
  for (const h of p.diff?.hunks ?? []) {
    rows.push(el('tr', { class: 'hunk' }, el('td', { colspan: '4', text: `@@ -${h.old_start},${h.old_lines} +${h.new_start},${h.new_lines} @@` })));
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
    el(
      'h4',
      {},
      `${p.kind} `,
      el('code', { text: p.id }),
      ` ${p.op} · `,
      el('span', { class: 'file', text: p.file }),
      p.git?.differs_from_head ? el('span', { class: 'badge', text: 'differs from HEAD' }) : null,
    ),
    p.changes.length ? el('ul', { class: 'changes' }, p.changes.map(changeLine)) : null,
    rows.length ? el('table', { class: 'diff' }, el('tbody', {}, rows)) : null,
    p.diff?.timed_out ? el('p', { class: 'note', text: 'the line diff took too long and shows the file as replaced' }) : null,
  );
}

/**
 * A frame's diff: every patch when there are few; otherwise a summary and
 * the changed entities, each one's diff built when it is opened.
 */
function diffView(frame) {
  const patches = frame.patches;
  if (patches.length <= DIFF_PATCHES_SHOWN) return el('div', {}, patches.map(patchSection));
  const counts = new Map();
  for (const p of patches) {
    const k = `${p.kind}|${p.op}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const summary = [...counts]
    .map(([k, n]) => {
      const [kind, op] = k.split('|');
      return `${plural(n, kind, kind === 'settings' ? kind : `${kind}s`)} ${op}`;
    })
    .join(', ');
  const listed = patches.slice(0, DIFF_ENTRIES_LISTED).map((p) => {
    const entry = el(
      'details',
      { class: 'patch-entry', 'data-id': p.id },
      el('summary', {}, `${p.kind} `, el('code', { text: p.id }), ` ${p.op}`, p.changes.length ? ` · ${plural(p.changes.length, 'change')}` : ''),
    );
    entry.addEventListener('toggle', () => {
      if (entry.open && entry.childElementCount === 1) entry.append(patchSection(p));
    });
    return entry;
  });
  return el(
    'div',
    { class: 'large-diff' },
    el('p', { class: 'diff-summary', text: summary }),
    listed,
    patches.length > listed.length ? el('p', { class: 'note', text: `and ${patches.length - listed.length} more; “Show all changed” lists them` }) : null,
  );
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
    const before = focusedId;
    focusedId = id;
    if (panel) openPanels.set(id, panel);
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
  focusedError = error;
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
  if (frame.cause?.previous_head && differsFromHead.size > 0) {
    differsFromHead.clear();
    view.full = true;
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
      lastPatch.delete(key);
      openPanels.delete(p.id);
    } else {
      lastPatch.set(key, p);
    }
    if (p.kind === 'workflow') {
      changedSinceLoad.add(p.id);
      if (p.git) differsFromHead.set(p.id, Boolean(p.git.differs_from_head));
      view.ids.add(p.id);
      if (p.op !== 'modified') view.full = true;
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
    const before = JSON.stringify([...olderRuns]);
    olderRuns = older;
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
    for (const i of frame.integrations) if (i.status) marks.delete(`integration:${i.id}`);
    view.full = true;
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
