// One row of the workflow list: its height (from `geometry.js`, shared
// with the CSS), the signature that says when it must be drawn again, and
// the row itself with its diff or errors panel. Reads the page's state
// (`state.js`); owns none.

import { errorView, patchSection } from '/ui/diff.js';
import { changedBy, el, plural } from '/ui/dom.js';
import { hasErrors, meta } from '/ui/finder.js';
import { ROW, ROW_PANEL, STEPS_SHOWN } from '/ui/geometry.js';
import { markOf, page } from '/ui/state.js';

export function rowHeight(w) {
  return meta(w).height + (page.openPanels.has(w.id) ? ROW_PANEL : 0);
}

export function rowSignature(w) {
  const m = markOf(`workflow:${w.id}`);
  return [
    m ? m.until : 0,
    page.openPanels.get(w.id) ?? '',
    hasErrors(w) ? 'e' : '',
    page.differsFromHead.get(w.id) ? 'd' : '',
    page.olderRuns.get(w.id) ?? 0,
    page.focusedId === w.id ? 'f' : '',
  ].join('|');
}

/**
 * The row of workflow `w`; `errors()` gives the diagnostics in force, for
 * its errors panel.
 */
export function buildRow(w, errors) {
  const d = w.definition ?? {};
  const m = markOf(`workflow:${w.id}`);
  const steps = d.steps ?? [];
  const older = page.olderRuns.get(w.id) ?? 0;
  const panel = page.openPanels.get(w.id);
  const patch = page.lastPatch.get(`workflow:${w.id}`);
  const node = el(
    'article',
    {
      class: `workflow ${m ? 'changed' : ''} ${page.focusedId === w.id ? 'focused' : ''}`,
      'data-id': w.id,
      tabindex: '-1',
    },
    el(
      'header',
      {},
      el('h3', { text: d.name ?? w.id }),
      el('code', { class: 'id', text: w.id }),
      el('span', { class: 'file', text: `${w.file} · rev ${w.revision}` }),
      changedBy(w.last_change),
      hasErrors(w) ? el('span', { class: 'badge has-errors', text: 'errors' }) : null,
      page.differsFromHead.get(w.id) ? el('span', { class: 'badge dirty', text: 'differs from HEAD' }) : null,
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
    panel ? rowPanel(w, panel, patch, errors) : null,
  );
  node.style.height = `${rowHeight(w) - ROW.gap}px`;
  return node;
}

function rowPanel(w, panel, patch, errors) {
  const body =
    panel === 'diff'
      ? patch
        ? patchSection(patch)
        : el('p', { class: 'note', text: 'no change since the page loaded' })
      : el('div', {}, errors().filter((e) => e.file === w.file || (e.entity?.kind === 'workflow' && e.entity.id === w.id)).flatMap(errorView));
  return el('div', { class: `row-detail ${panel}`, 'data-panel': panel }, body);
}
