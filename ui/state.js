// The page's own state, in one place: everything the page knows beyond what
// the client core holds (`client.getState()`: the workflows, integrations
// and errors in force). Rows read it when they are drawn; the frame
// handlers, the filter and the row buttons change it and ask for a redraw.
// The runs keep theirs in ui/runs.js, which reports to `olderRuns`.

const MARK_MS = 4000;

export const page = {
  /** Marks of rows changed by the last reloads: key → {until, steps}. */
  marks: new Map(),
  /** Bumped whenever a mark is set or runs out. */
  markEpoch: 0,
  /** The activity log, newest first. */
  log: [],
  /** Workflow ids a reload touched since the page loaded. */
  changedSinceLoad: new Set(),
  /** Workflow id → whether its file differs from HEAD, as the last patch said. */
  differsFromHead: new Map(),
  /** Entity key (`workflow:id`) → the last patch that changed it. */
  lastPatch: new Map(),
  /** Workflow id → the panel open in its row (`diff` or `errors`). */
  openPanels: new Map(),
  /** The workflow a toast led to, outlined. */
  focusedId: null,
  /** The error a toast led to, outlined in the errors list. */
  focusedError: null,
  /** Workflow id → runs in progress on an older definition of it. */
  olderRuns: new Map(),
  /** Workflow ids and files with an error (not a warning) in force. */
  errorIds: new Set(),
  errorFiles: new Set(),
  /** What the workflow list shows: the filter and sort it was made with, and its source. */
  view: { source: null, query: null, sort: null, errors: null, full: true, ids: new Set() },
  /** Asks for a redraw (set by ui/app.js). */
  redraw: () => {},
};

/** The mark on `key`, while it lasts. */
export function markOf(key) {
  const m = page.marks.get(key);
  return m !== undefined && m.until > Date.now() ? m : null;
}

let unmarkTimer = null;

/** Marks `key` as just changed; one redraw follows when the marks run out. */
export function mark(key, steps = new Set()) {
  page.marks.set(key, { until: Date.now() + MARK_MS, steps });
  page.markEpoch += 1;
  if (unmarkTimer === null) unmarkWhenDue(MARK_MS);
}

/** Redraws when the next mark runs out, and again while marks remain. */
function unmarkWhenDue(ms) {
  unmarkTimer = setTimeout(() => {
    unmarkTimer = null;
    page.redraw();
    const t = Date.now();
    let next = Infinity;
    for (const m of page.marks.values()) if (m.until > t) next = Math.min(next, m.until);
    if (next !== Infinity) unmarkWhenDue(next - t);
  }, ms + 50);
}
