// Toasts: the stack in `#toasts`. A toast leaves after a while unless it
// is sticky, expanded, hovered or focused; one with a `key` replaces the
// toast of the same key; one that `go`es somewhere leads there on a click.

import { $, el } from '/ui/dom.js';

const TOAST_MS = 12000;

/** Removes `toast` (and its timer). */
export function dismiss(toast) {
  if (!toast.isConnected) return;
  clearTimeout(toast._timer);
  toast.remove();
}

/** (Re)starts the time `toast` stays, unless it is sticky or expanded. */
export function armTimer(toast) {
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
export function toast(t) {
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

/** Dismisses every toast with `key`. */
export function dismissKey(key) {
  for (const old of $('toasts').querySelectorAll(`[data-key="${CSS.escape(key)}"]`)) dismiss(old);
}

/** Dismisses the focused toast, else the newest; returns whether there was one. */
export function dismissCurrent() {
  const toasts = [...$('toasts').children];
  const focused = toasts.find((t) => t.contains(document.activeElement));
  const target = focused ?? toasts[toasts.length - 1];
  if (target) dismiss(target);
  return Boolean(target);
}
