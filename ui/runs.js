// Trial runs on the page: start a run from a workflow row, walk its steps
// as a checklist, finish or discard it, and compare the definition it is
// pinned to with the one in force.
//
// The run store is the truth: every change this page makes is a request,
// and what shows is what the next read of the paged list (`GET
// /api/v1/runs`) answers. The page reads it after each of its own changes,
// after each reload frame and every few seconds while visible (app.js
// drives those), so runs changed elsewhere (the API, another tab, another
// server on the same database) show without a reload. No run state is kept
// here beyond what the last read answered and what the person has open.

/** Runs in progress read per refresh (the newest). */
const IN_PROGRESS_READ = 100;
/** Finished runs read per refresh (the newest), and kept per workflow. */
const FINISHED_READ = 50;
const HISTORY_PER_WORKFLOW = 5;

/**
 * @param {{
 *   box: HTMLElement, heading: HTMLElement, count: HTMLElement, empty: HTMLElement, status: HTMLElement, dialog: HTMLDialogElement,
 *   token: string | null, el: Function, patchSection: (p: object) => Node,
 *   onOlderRuns: (older: Map<string, number>) => void,
 * }} deps
 */
export function createRuns({ box, heading, count, empty, status, dialog, token, el, patchSection, onOlderRuns }) {
  /** The last two pages read: {inProgress, finished}; null before the first read. */
  let read = null;
  let readText = '';
  /** Run id → the comparison shown for it: {revision, body|null, error|null}. */
  const compares = new Map();
  /** Workflow ids whose history is open. */
  const openHistory = new Set();
  /** Run ids with a request in flight (their buttons wait). */
  const busy = new Set();
  let refreshing = null;
  let queued = null;

  function request(method, path) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    return fetch(path, { method, headers }).then(async (r) => {
      if (r.ok) return r.status === 204 ? null : r.json();
      const body = await r.json().catch(() => ({}));
      const error = new Error(body.message ?? `${method} ${path}: ${r.status}`);
      error.code = body.code;
      throw error;
    });
  }

  function say(text) {
    status.textContent = text;
  }

  /**
   * Reads both pages again and redraws when they changed. One read at a
   * time: asked during a read, it answers after one more read that starts
   * when that one ends (so it sees every change made before it was asked).
   */
  function refresh() {
    if (refreshing) {
      queued ??= refreshing.then(() => {
        queued = null;
        return refresh();
      });
      return queued;
    }
    refreshing = Promise.all([
      request('GET', `/api/v1/runs?state=in_progress&limit=${IN_PROGRESS_READ}`),
      request('GET', `/api/v1/runs?state=finished&limit=${FINISHED_READ}`),
    ])
      .then(([inProgress, finished]) => {
        const text = JSON.stringify([inProgress.runs, inProgress.next_cursor, finished.runs]);
        if (text === readText) return;
        readText = text;
        read = { inProgress, finished };
        draw();
      })
      .catch(() => {
        // Kept as they were; the connection pill tells the story.
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  /** Runs `action`, then reads the list again; a refusal is said in the status line. */
  function act(runId, action, done) {
    if (busy.has(runId)) return Promise.resolve();
    busy.add(runId);
    draw();
    return action()
      .then((answer) => {
        if (done) say(done(answer));
      })
      .catch((e) => say(`Not done: ${e.message}`))
      .finally(() => {
        busy.delete(runId);
        draw();
        return refresh();
      });
  }

  // ---- actions -------------------------------------------------------------

  function start(workflowId, name) {
    return request('POST', `/api/v1/workflows/${encodeURIComponent(workflowId)}/runs`)
      .then((run) => {
        say(`Started a trial run of ${name}.`);
        return refresh().then(() => {
          const card = box.querySelector(`li.run[data-run="${CSS.escape(run.id)}"]`);
          card?.scrollIntoView({ block: 'nearest' });
          (card?.querySelector('button.complete') ?? card)?.focus();
          return run;
        });
      })
      .catch((e) => say(`No run started: ${e.message}`));
  }

  function complete(run, step, name) {
    return act(run.id, () => request('POST', `/api/v1/runs/${encodeURIComponent(run.id)}/steps/${encodeURIComponent(step.id)}/complete`), (r) =>
      r.finished ? `Completed “${step.name}”; the run of ${name} is finished.` : `Completed “${step.name}”.`,
    );
  }

  function finish(run, name) {
    return act(run.id, () => request('POST', `/api/v1/runs/${encodeURIComponent(run.id)}/finish`), () => `Finished the run of ${name}.`);
  }

  /** Asks first (a modal dialog, Cancel focused), then deletes. */
  function discard(run, name) {
    const done = new Set(run.completed.map((c) => c.step)).size;
    dialog.querySelector('.dialog-text').textContent =
      `The run of ${name} started ${when(run.started_at)}${done ? `, with ${done === 1 ? '1 completed step' : `${done} completed steps`},` : ''} ` +
      'is deleted from the run store, for every page and server using it. This cannot be undone.';
    dialog.returnValue = '';
    dialog.onclose = () => {
      if (dialog.returnValue !== 'discard') {
        say('Nothing was discarded.');
        return;
      }
      act(run.id, () => request('DELETE', `/api/v1/runs/${encodeURIComponent(run.id)}`), () => `Discarded the run of ${name}.`);
    };
    dialog.showModal();
  }

  function toggleCompare(run) {
    if (compares.has(run.id)) {
      compares.delete(run.id);
      draw();
      return Promise.resolve();
    }
    return loadCompare(run);
  }

  function loadCompare(run) {
    const shown = { revision: run.definition_status.revision, body: null, error: null };
    compares.set(run.id, shown);
    draw();
    return request('GET', `/api/v1/runs/${encodeURIComponent(run.id)}/compare`)
      .then((body) => {
        shown.body = body;
      })
      .catch((e) => {
        shown.error = e.message;
      })
      .finally(() => {
        if (compares.get(run.id) === shown) draw();
      });
  }

  // ---- drawing ---------------------------------------------------------------

  function when(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function time(iso) {
    return el('time', { datetime: iso, text: when(iso) });
  }

  function minutes(steps, done) {
    let total = 0;
    let spent = 0;
    for (const s of steps) {
      const m = Number(s.estimated_minutes) || 0;
      total += m;
      if (done.has(s.id)) spent += m;
    }
    return { total, spent };
  }

  function progress(run, steps, label) {
    const done = new Set(run.completed.map((c) => c.step));
    const { total, spent } = minutes(steps, done);
    const n = steps.filter((s) => done.has(s.id)).length;
    const fill = el('span', { class: 'fill' });
    fill.style.width = `${steps.length ? Math.round((100 * n) / steps.length) : 0}%`;
    return el(
      'div',
      {
        class: 'progress',
        role: 'progressbar',
        'aria-label': `Progress of ${label}`,
        'aria-valuemin': '0',
        'aria-valuemax': String(steps.length),
        'aria-valuenow': String(n),
        'aria-valuetext': `${n} of ${steps.length} steps done, ${spent} of ${total} minutes`,
      },
      el('span', { class: 'track', 'aria-hidden': 'true' }, fill),
      el('span', { class: 'progress-text', 'aria-hidden': 'true', text: `${n}/${steps.length} steps done · ${spent}/${total} min` }),
    );
  }

  function statusBadge(run) {
    const s = run.definition_status;
    if (s.state === 'newer') {
      return [
        el('span', { class: 'badge newer', text: `newer definition exists (rev ${s.revision})` }),
        el('button', {
          type: 'button',
          class: 'compare',
          'data-action': 'compare',
          'aria-expanded': String(compares.has(run.id)),
          'aria-label': `Compare this run's definition (rev ${run.revision}) with the one in force (rev ${s.revision})`,
          text: compares.has(run.id) ? 'Hide comparison' : 'Compare',
        }),
      ];
    }
    if (s.state === 'removed') {
      return [el('span', { class: 'badge newer removed', text: 'template removed: the run keeps its own definition' })];
    }
    return [];
  }

  function comparePanel(run) {
    const shown = compares.get(run.id);
    if (!shown) return null;
    // A newer definition than the one compared: compare again.
    if (shown.body && run.definition_status.state === 'newer' && shown.revision !== run.definition_status.revision) {
      queueMicrotask(() => loadCompare(run));
    }
    const body = shown.error
      ? el('p', { class: 'note', text: `The comparison could not be read: ${shown.error}` })
      : !shown.body
        ? el('p', { class: 'note', text: 'Comparing…' })
        : shown.body.patch
          ? patchSection(shown.body.patch)
          : el('p', { class: 'note', text: 'The definitions are the same.' });
    return el(
      'div',
      { class: 'run-compare', role: 'region', 'aria-label': `This run's definition against the one in force` },
      el('p', { class: 'compare-title', text: `rev ${run.revision} (this run) → rev ${run.definition_status.revision ?? '—'} (in force)` }),
      body,
    );
  }

  function runCard(run, definition) {
    const steps = definition.steps ?? [];
    const name = definition.name ?? run.workflow_id;
    const label = `the run of ${name} started ${when(run.started_at)}`;
    const doneAt = new Map(run.completed.map((c) => [c.step, c.at]));
    const waiting = busy.has(run.id);
    return el(
      'li',
      { class: 'run', 'data-run': run.id, 'data-workflow': run.workflow_id, tabindex: '-1', 'aria-label': label, 'aria-busy': waiting ? 'true' : null },
      el(
        'div',
        { class: 'run-head' },
        el('strong', { class: 'run-workflow', text: name }),
        el('code', { class: 'id', text: run.workflow_id }),
        el('span', { class: 'pinned', text: `pinned to rev ${run.revision}` }),
        el('span', { class: 'started' }, 'started ', time(run.started_at)),
        statusBadge(run),
      ),
      progress(run, steps, label),
      comparePanel(run),
      el(
        'ol',
        { class: 'run-steps', 'aria-label': `Steps of ${label}` },
        steps.map((s) => {
          const at = doneAt.get(s.id);
          return el(
            'li',
            { class: at ? 'done' : null, 'data-step': s.id },
            el(
              'div',
              { class: 'step-line' },
              el('span', { class: 'step-name', text: s.name }),
              el('span', { class: 'minutes', text: `${s.estimated_minutes} min` }),
              at
                ? el('span', { class: 'done-at' }, '✓ done ', time(at))
                : el('button', {
                    type: 'button',
                    class: 'complete',
                    'data-action': 'complete',
                    'data-step': s.id,
                    'aria-disabled': waiting ? 'true' : null,
                    'aria-label': `Complete step ${s.name}`,
                    text: 'Complete',
                  }),
            ),
            s.checklist?.length ? el('ul', { class: 'checks', 'aria-label': `Checklist of ${s.name}` }, s.checklist.map((c) => el('li', { text: c }))) : null,
          );
        }),
      ),
      el(
        'div',
        { class: 'run-actions' },
        el('button', { type: 'button', class: 'finish', 'data-action': 'finish', 'aria-disabled': waiting ? 'true' : null, 'aria-label': `Finish ${label}`, text: 'Finish' }),
        el('button', { type: 'button', class: 'discard danger', 'data-action': 'discard', 'aria-disabled': waiting ? 'true' : null, 'aria-label': `Discard ${label}`, text: 'Discard' }),
      ),
    );
  }

  function historyEntry(run, definition) {
    const steps = definition.steps ?? [];
    const done = new Set(run.completed.map((c) => c.step));
    const { total, spent } = minutes(steps, done);
    const name = definition.name ?? run.workflow_id;
    const n = steps.filter((s) => done.has(s.id)).length;
    return el(
      'li',
      { class: 'past-run', 'data-run': run.id },
      el('span', {}, 'finished ', time(run.finished_at)),
      el('span', { class: 'past-progress', text: `${n}/${steps.length} steps · ${spent}/${total} min` }),
      el('span', { class: 'pinned', text: `rev ${run.revision}` }),
      el('button', {
        type: 'button',
        class: 'discard danger',
        'data-action': 'discard',
        'aria-disabled': busy.has(run.id) ? 'true' : null,
        'aria-label': `Discard the run of ${name} finished ${when(run.finished_at)}`,
        text: 'Discard',
      }),
    );
  }

  /** Where focus was, as something the next drawing can find again. */
  function focusKey() {
    const a = document.activeElement;
    if (!(a instanceof HTMLElement) || !box.contains(a)) return null;
    const run = a.closest('[data-run]')?.dataset.run ?? null;
    return { run, action: a.dataset.action ?? null, step: a.dataset.step ?? null, history: a.closest('details')?.dataset.workflow ?? null };
  }

  function refocus(key) {
    if (!key) return;
    const card = key.run ? box.querySelector(`[data-run="${CSS.escape(key.run)}"]`) : null;
    const exact =
      card && key.action
        ? card.querySelector(`[data-action="${key.action}"]${key.step ? `[data-step="${CSS.escape(key.step)}"]` : ''}`)
        : null;
    // A completed step's button is gone: the next step to do, then Finish.
    const next = card?.querySelector('button.complete') ?? card?.querySelector('button.finish') ?? card;
    const summary = key.history ? box.querySelector(`details[data-workflow="${CSS.escape(key.history)}"] > summary`) : null;
    (exact ?? next ?? summary ?? heading)?.focus({ preventScroll: true });
  }

  function draw() {
    if (!read) return;
    const key = focusKey();
    const definitions = new Map();
    for (const page of [read.inProgress, read.finished]) for (const d of page.definitions) definitions.set(d.hash, d.definition ?? {});
    const defOf = (run) => definitions.get(run.definition_ref.hash) ?? {};
    const running = read.inProgress.runs;
    const older = new Map();
    for (const r of running) {
      if (r.definition_status.state === 'newer') older.set(r.workflow_id, (older.get(r.workflow_id) ?? 0) + 1);
    }
    // Groups by workflow: runs in progress (newest first), then its history.
    const groups = new Map();
    const group = (id) => {
      if (!groups.has(id)) groups.set(id, { running: [], finished: [] });
      return groups.get(id);
    };
    for (const r of running) group(r.workflow_id).running.push(r);
    for (const r of read.finished.runs) group(r.workflow_id).finished.push(r);
    count.textContent = read.inProgress.next_cursor ? `${running.length}+` : String(running.length);
    empty.hidden = running.length > 0;
    box.replaceChildren(
      ...[...groups].map(([workflowId, g]) => {
        const name = defOf(g.running[0] ?? g.finished[0]).name ?? workflowId;
        const history = g.finished.slice(0, HISTORY_PER_WORKFLOW);
        const details = history.length
          ? el(
              'details',
              { class: 'run-history', 'data-workflow': workflowId, open: openHistory.has(workflowId) },
              el('summary', { text: `Finished runs of ${name} (${g.finished.length === history.length ? history.length : `latest ${history.length}`})` }),
              el('ol', {}, history.map((r) => historyEntry(r, defOf(r)))),
            )
          : null;
        details?.addEventListener('toggle', () => {
          if (details.open) openHistory.add(workflowId);
          else openHistory.delete(workflowId);
        });
        return el(
          'li',
          { class: 'run-group', 'data-workflow': workflowId },
          g.running.length ? el('ul', { class: 'run-cards' }, g.running.map((r) => runCard(r, defOf(r)))) : null,
          details,
        );
      }),
    );
    if (read.inProgress.next_cursor) box.append(el('li', { class: 'note', text: `and older runs in progress (GET /api/v1/runs?cursor=…)` }));
    refocus(key);
    onOlderRuns(older);
  }

  for (const button of dialog.querySelectorAll('button[data-close]')) {
    button.addEventListener('click', () => dialog.close(button.dataset.close));
  }

  // One listener for every button of every card.
  box.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button || !read) return;
    const id = button.closest('[data-run]')?.dataset.run;
    if (busy.has(id)) return;
    const run = [...read.inProgress.runs, ...read.finished.runs].find((r) => r.id === id);
    if (!run) return;
    const definitions = [...read.inProgress.definitions, ...read.finished.definitions];
    const definition = definitions.find((d) => d.hash === run.definition_ref.hash)?.definition ?? {};
    const name = definition.name ?? run.workflow_id;
    const action = button.dataset.action;
    if (action === 'complete') {
      const step = (definition.steps ?? []).find((s) => s.id === button.dataset.step);
      if (step) complete(run, step, name);
    } else if (action === 'finish') finish(run, name);
    else if (action === 'discard') discard(run, name);
    else if (action === 'compare') toggleCompare(run);
  });

  return { refresh, start };
}
