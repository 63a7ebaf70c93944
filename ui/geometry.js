// The page's row geometry, in px: the one home of every size the windowed
// lists compute offsets from. The lists never measure a row; they add
// these numbers up, and `shareGeometry` hands the same numbers to
// `style.css` as custom properties (`--row-step`, …), which draws each row
// to exactly that size. Change a size here and both follow.

/** A workflow row: card padding and border, its lines, steps and open panel. */
export const ROW = Object.freeze({
  pad: 8,
  border: 1,
  header: 26,
  line: 20,
  stepsTop: 4,
  step: 22,
  panel: 260,
  panelTop: 8,
  gap: 8,
});

/** The padding and border above and below a workflow row's content. */
export const ROW_CHROME = 2 * (ROW.pad + ROW.border);

/** What an open diff or errors panel adds to a row. */
export const ROW_PANEL = ROW.panelTop + ROW.panel;

/** Steps drawn in a workflow row; the rest are counted on one line. */
export const STEPS_SHOWN = 30;

/** An error row: its height, and the space before the next. */
export const ERROR = Object.freeze({ height: 26, gap: 4 });

/** The offset from one error row to the next. */
export const ERROR_ROW = ERROR.height + ERROR.gap;

/** The errors box grows with its rows up to this height, then scrolls. */
export const ERRORS_BOX_MAX = 300;

/** The custom properties `style.css` reads, from the sizes above. */
export function geometryProperties() {
  return {
    '--row-pad': ROW.pad,
    '--row-border': ROW.border,
    '--row-header': ROW.header,
    '--row-line': ROW.line,
    '--row-steps-top': ROW.stepsTop,
    '--row-step': ROW.step,
    '--row-panel': ROW.panel,
    '--row-panel-top': ROW.panelTop,
    '--row-gap': ROW.gap,
    '--error-height': ERROR.height,
  };
}

/** Sets the custom properties on `root` (the document element). */
export function shareGeometry(root) {
  for (const [name, px] of Object.entries(geometryProperties())) root.style.setProperty(name, `${px}px`);
}
