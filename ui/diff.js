// How a change reads on the page: one entity's semantic changes and line
// diff (`patchSection`), a whole frame's diff (`diffView`, a summary with
// diffs built on demand when it is large) and a diagnostic with its
// excerpt (`errorView`). Pure builders of DOM nodes: no state.

import { el, plural, show } from '/ui/dom.js';

/** A frame with more patches than this gets a summary and diffs on demand. */
const DIFF_PATCHES_SHOWN = 20;
/** Entities listed in a large diff's summary (each diff built when opened). */
const DIFF_ENTRIES_LISTED = 200;

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
export function patchSection(p) {
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
export function diffView(frame) {
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

/** A diagnostic: where, what, and the source line with a caret. */
export function errorView(e) {
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
