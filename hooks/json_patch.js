// @ts-check
// RFC 6902 JSON Patch for qa-reload's client core (`client.js`), which
// applies each `reload` frame's patches with it and re-exports
// `applyJsonPatch` and `PatchError`. Pure functions over JSON values: the
// document passed in is never changed (the containers along each path are
// copied), a patch applies all or nothing, every failure is a `PatchError`,
// and a member named `__proto__` is a member like any other. Plain ES
// module, no dependencies.

/**
 * Thrown when a patch does not fit the document it is applied to, or is not
 * a patch at all (an op without `path`, `add` without `value`): every
 * failure of `applyJsonPatch` is one.
 */
export class PatchError extends Error {}

/** @import { JsonPatchOp } from './frames' */

/**
 * An object or an array: what a pointer's tokens step into.
 * @typedef {Record<string, unknown> | unknown[]} Container
 */

/**
 * An op as it arrived: read member by member, as it may not be an op at
 * all.
 * @typedef {Record<string, unknown>} RawOp
 */

/** @param {string} t */
function unescapeToken(t) {
  return t.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * The tokens of the pointer in `op[field]` (`path` or `from`).
 * @param {RawOp} op
 * @param {'path' | 'from'} field
 * @returns {string[]}
 */
function pointerOf(op, field) {
  const pointer = op[field];
  if (typeof pointer !== 'string') {
    throw new PatchError(`op ${JSON.stringify(op.op)} needs a string \`${field}\`, found ${pointer === null ? 'null' : typeof pointer}`);
  }
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`bad JSON pointer ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescapeToken);
}

/**
 * `op.value`, which `add`, `replace` and `test` must carry.
 * @param {RawOp} op
 */
function valueOf(op) {
  if (!Object.hasOwn(op, 'value') || op.value === undefined) {
    throw new PatchError(`op ${JSON.stringify(op.op)} at ${JSON.stringify(op.path)} has no \`value\``);
  }
  return op.value;
}

/**
 * @param {unknown} v
 * @returns {unknown}
 */
function clone(v) {
  return v === undefined ? undefined : structuredClone(v);
}

/**
 * @param {unknown} v
 * @returns {v is Container}
 */
function isContainer(v) {
  return v !== null && typeof v === 'object';
}

/**
 * JSON equality: members in any order, items in order, `1` equal to `1.0`.
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, member(b, i)));
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(member(a, k), member(b, k)));
}

/**
 * Sets `obj[key]` as an own member, whatever the key: an assignment to
 * `__proto__` would change the object's prototype and drop the member.
 * @param {Container} obj
 * @param {string | number} key
 * @param {unknown} value
 */
function setOwn(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * `node[key]`, an array's item or an object's member.
 * @param {Container} node
 * @param {string | number} key
 * @returns {unknown}
 */
function member(node, key) {
  return Array.isArray(node) ? node[Number(key)] : node[key];
}

/**
 * A shallow copy of a container (own members only, `__proto__` kept as one).
 * @param {Container} node
 * @returns {Container}
 */
function copyOf(node) {
  return Array.isArray(node) ? node.slice() : { ...node };
}

/**
 * Copies the containers along `tokens` so the original document is
 * untouched, and hands `edit` the copied parent of the last one.
 * @param {unknown} doc
 * @param {string[]} tokens
 * @param {(parent: Container, key: string) => void} edit
 * @returns {Container}
 */
function editAt(doc, tokens, edit) {
  if (!isContainer(doc)) throw new PatchError(`no container at the root (it is ${doc === null ? 'null' : typeof doc})`);
  const root = copyOf(doc);
  let node = root;
  for (let i = 0; i < tokens.length - 1; i++) {
    const key = Array.isArray(node) ? index(node, tokens[i], false) : tokens[i];
    const child = Array.isArray(node) || Object.hasOwn(node, key) ? member(node, key) : undefined;
    if (!isContainer(child)) {
      throw new PatchError(`no container at /${tokens.slice(0, i + 1).join('/')}`);
    }
    const copy = copyOf(child);
    setOwn(node, key, copy);
    node = copy;
  }
  edit(node, tokens[tokens.length - 1]);
  return root;
}

/**
 * The index `token` names in `arr` (`-` is one past the end, for `add`).
 * @param {unknown[]} arr
 * @param {string} token
 * @param {boolean} forAdd
 */
function index(arr, token, forAdd) {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`bad array index ${token}`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`index ${i} out of range`);
  return i;
}

/**
 * @param {unknown} doc
 * @param {string[]} tokens
 * @returns {unknown}
 */
function get(doc, tokens) {
  let node = doc;
  for (const t of tokens) {
    if (!isContainer(node)) throw new PatchError(`no value at /${tokens.join('/')}`);
    const key = Array.isArray(node) ? index(node, t, false) : t;
    if (!Array.isArray(node) && !Object.hasOwn(node, key)) throw new PatchError(`no value at /${tokens.join('/')}`);
    node = member(node, key);
  }
  return node;
}

/**
 * @param {unknown} doc
 * @param {string[]} tokens
 * @param {unknown} value
 * @returns {unknown}
 */
function add(doc, tokens, value) {
  if (tokens.length === 0) return clone(value);
  return editAt(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) parent.splice(index(parent, key, true), 0, clone(value));
    else setOwn(parent, key, clone(value));
  });
}

/**
 * @param {unknown} doc
 * @param {string[]} tokens
 * @returns {unknown}
 */
function remove(doc, tokens) {
  if (tokens.length === 0) return null;
  get(doc, tokens);
  return editAt(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) parent.splice(index(parent, key, false), 1);
    else delete parent[key];
  });
}

/**
 * @param {unknown} doc
 * @param {unknown} op
 * @returns {unknown}
 */
function applyOp(doc, op) {
  if (!isContainer(op) || Array.isArray(op)) throw new PatchError(`an op must be an object, found ${JSON.stringify(op)}`);
  const path = pointerOf(op, 'path');
  switch (op.op) {
    case 'add':
      return add(doc, path, valueOf(op));
    case 'remove':
      return remove(doc, path);
    case 'replace': {
      const value = valueOf(op);
      if (path.length === 0) return clone(value);
      get(doc, path);
      return add(remove(doc, path), path, value);
    }
    case 'move': {
      const from = pointerOf(op, 'from');
      if (path.length > from.length && from.every((t, i) => t === path[i])) {
        throw new PatchError(`cannot move ${op.from} into its own child ${op.path}`);
      }
      const value = get(doc, from);
      return add(remove(doc, from), path, value);
    }
    case 'copy':
      return add(doc, path, get(doc, pointerOf(op, 'from')));
    case 'test':
      if (!deepEqual(get(doc, path), valueOf(op))) throw new PatchError(`test failed at ${op.path}`);
      return doc;
    default:
      throw new PatchError(`unknown op ${JSON.stringify(op.op)}`);
  }
}

/**
 * Applies RFC 6902 `ops` to `doc` without changing it; returns the new
 * document. All or nothing: when an op does not fit (or is not an op), it
 * throws `PatchError` and `doc` is as it was.
 * @template [T=unknown]
 * @param {unknown} doc
 * @param {ReadonlyArray<JsonPatchOp>} ops
 * @returns {T}
 */
export function applyJsonPatch(doc, ops) {
  if (!Array.isArray(ops)) throw new PatchError('a patch must be a list of ops');
  let out = doc;
  for (const op of ops) {
    try {
      out = applyOp(out, op);
    } catch (e) {
      if (e instanceof PatchError) throw e;
      // A value that cannot be copied, or anything else unforeseen: still
      // the one error the API promises.
      throw new PatchError(`op ${JSON.stringify(op?.op)} at ${JSON.stringify(op?.path)} failed: ${e}`, { cause: e });
    }
  }
  return /** @type {T} */ (out);
}
