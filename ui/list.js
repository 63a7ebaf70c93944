// A windowed list: of a long list of items, only the rows inside the
// scroll box (plus a margin) are in the DOM. Every item's height is known
// without measuring (the caller computes it from the item), so the offsets
// are one prefix sum and finding the rows in view is a binary search.
// Rows are keyed: a row is rebuilt only when its item (by identity) or its
// signature changed, moved when only its offset changed, and removed when it
// leaves the window.

/** Pixels drawn above and below the visible part of the box. */
const OVERSCAN_PX = 400;

export class WindowedList {
  /**
   * @param {HTMLElement} box     the scrolling element
   * @param {object} row
   * @param {(item: any) => string} row.key
   * @param {(item: any) => number} row.height   pixels, including the gap below
   * @param {(item: any) => string} row.signature  anything besides the item that changes the row
   * @param {(item: any) => HTMLElement} row.build
   * @param {(total: number) => void} [row.onLayout]  told the height of all rows after each layout
   */
  constructor(box, row) {
    this.box = box;
    this.row = row;
    this.items = [];
    this.offsets = new Float64Array(1);
    this.index = new Map();
    /** key → {node, item, sig, top} */
    this.rows = new Map();
    this.built = 0;
    this.spacer = document.createElement('div');
    this.spacer.className = 'spacer';
    this.spacer.setAttribute('aria-hidden', 'true');
    box.append(this.spacer);
    box.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.frame = 0;
  }

  /** Replaces the items (in display order) and recomputes the offsets. */
  setItems(items) {
    this.items = items;
    this.index = new Map();
    for (let i = 0; i < items.length; i++) this.index.set(this.row.key(items[i]), i);
    this.layout();
  }

  /** Replaces one item in place (same key, same position). */
  replace(i, item) {
    this.items[i] = item;
  }

  /** Recomputes the offsets after heights changed. */
  layout() {
    const n = this.items.length;
    if (this.offsets.length !== n + 1) this.offsets = new Float64Array(n + 1);
    let y = 0;
    for (let i = 0; i < n; i++) {
      this.offsets[i] = y;
      y += this.row.height(this.items[i]);
    }
    this.offsets[n] = y;
    this.spacer.style.height = `${y}px`;
    this.row.onLayout?.(y);
  }

  /** The height of every row together. */
  get total() {
    return this.offsets[this.items.length];
  }

  /** The first index whose row ends below `y`. */
  indexAt(y) {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  /** Brings the DOM in line with the items in the window. */
  paint() {
    const top = this.box.scrollTop;
    const height = this.box.clientHeight || 600;
    const first = this.indexAt(Math.max(0, top - OVERSCAN_PX));
    const last = Math.min(this.items.length, this.indexAt(top + height + OVERSCAN_PX) + 1);
    const keep = new Set();
    for (let i = first; i < last; i++) {
      const item = this.items[i];
      const key = this.row.key(item);
      keep.add(key);
      const sig = this.row.signature(item);
      const y = this.offsets[i];
      let r = this.rows.get(key);
      if (r && (r.item !== item || r.sig !== sig)) {
        const node = this.row.build(item);
        r.node.replaceWith(node);
        r = { node, item, sig, top: -1 };
        this.rows.set(key, r);
        this.built += 1;
      } else if (!r) {
        r = { node: this.row.build(item), item, sig, top: -1 };
        this.box.append(r.node);
        this.rows.set(key, r);
        this.built += 1;
      }
      if (r.top !== y) {
        r.node.style.top = `${y}px`;
        r.top = y;
      }
    }
    for (const [key, r] of this.rows) {
      if (!keep.has(key)) {
        r.node.remove();
        this.rows.delete(key);
      }
    }
  }

  /** Scrolls so the item with `key` is in view; false when it is not listed. */
  reveal(key) {
    const i = this.index.get(key);
    if (i === undefined) return false;
    const y = this.offsets[i];
    const h = this.offsets[i + 1] - y;
    const view = this.box.clientHeight;
    if (y < this.box.scrollTop || y + h > this.box.scrollTop + view) {
      this.box.scrollTop = Math.max(0, h > view ? y : y - (view - h) / 2);
    }
    this.paint();
    return true;
  }

  node(key) {
    return this.rows.get(key)?.node ?? null;
  }
}
