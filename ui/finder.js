// Finding a workflow: natural sort keys (`w2` before `w10`), each
// workflow's row height and search text (made once per version: the core
// keeps an unchanged workflow's object), and the filter box's query.

import { ROW, ROW_CHROME, STEPS_SHOWN } from '/ui/geometry.js';
import { page } from '/ui/state.js';

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
      ROW_CHROME +
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

/** The `Meta` of `w`, made once per workflow object. */
export function meta(w) {
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
export function parseQuery(text) {
  const tests = [];
  for (const word of text.trim().toLowerCase().split(/\s+/).filter(Boolean)) {
    const m = /^([a-z]+):(.*)$/.exec(word);
    const [field, value] = m ? [m[1], m[2]] : ['', word];
    if (FIELDS.includes(field) && value) {
      const key = field === 'step' ? 'steps' : field === 'integration' ? 'integrations' : field;
      tests.push((w) => meta(w).search[key].includes(value));
    } else if (field === 'is' || field === 'has') {
      if (value === 'error' || value === 'errors') tests.push((w) => hasErrors(w));
      else if (value === 'changed') tests.push((w) => page.changedSinceLoad.has(w.id));
      else if (value === 'dirty' || value === 'differs') tests.push((w) => page.differsFromHead.get(w.id) === true);
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

/** The key `w` sorts by under `by` (`name`, `file` or `changed`). */
export function sortKey(w, by) {
  const m = meta(w);
  if (by === 'file') return m.fileKey;
  if (by === 'changed') return `${String(1e12 - (w.revision ?? 0)).padStart(13, '0')}${m.nameKey}`;
  return m.nameKey;
}

/** Whether an error (not a warning) in force is about `w`. */
export function hasErrors(w) {
  return page.errorIds.has(w.id) || page.errorFiles.has(w.file);
}
