// Small DOM and text helpers every part of the page uses: no state.

/** The element with `id`. */
export const $ = (id) => document.getElementById(id);

/**
 * A new element: `attrs` sets `class`, `text`, `on<event>` listeners and
 * attributes (`null`, `undefined` and `false` are skipped); `children` are
 * nodes or text.
 */
export function el(tag, attrs = {}, ...children) {
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

export function short(commit) {
  return commit ? commit.slice(0, 7) : '—';
}

export function show(value) {
  if (value === undefined || value === null) return '∅';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** An RFC 3339 time as the local time of day, or `null`. */
export function localTime(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : null;
}

/**
 * `serve --follow`: who last changed an entity, as a small label (the
 * author and the short commit; the full id, time and subject on hover), or
 * `null` when the server names no commit (working-tree mode).
 */
export function changedBy(change) {
  if (!change) return null;
  const when = change.time ? new Date(change.time).toLocaleString() : '';
  return el('span', {
    class: 'changed-by',
    title: [`${change.author} <${change.email}>`, change.id, when, change.subject].filter(Boolean).join('\n'),
    text: `${change.author} · ${short(change.id)}`,
  });
}
