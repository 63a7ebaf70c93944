// The one client core of qa-reload's live stream (docs/protocol.md), shared by the
// page served at `/` and the React hook `useHotReload.ts`.
//
// It connects to `/ws/hot-reload`, resumes with `since=<last revision>` after
// a drop, reconnects with exponential backoff and jitter (0.5 s to 10 s),
// pauses while the tab is hidden, and keeps one immutable state: the
// workflows, integrations and errors in force, updated in place from each
// `reload` frame's RFC 6902 JSON Patch. When a patch does not fit what it
// holds (a missed revision, a server restart) it resyncs from a snapshot
// instead of guessing. Plain ES module, no dependencies: it runs in browsers
// and in Node (pass `WebSocket` from the `ws` package there).
//
// Types: `client.d.ts` (API) and `frames.ts` (every frame).

/** @typedef {import('./frames').Frame} Frame */
/** @typedef {import('./frames').ReloadFrame} ReloadFrame */
/** @typedef {import('./frames').SnapshotFrame} SnapshotFrame */
/** @typedef {import('./frames').IntegrationStatusFrame} IntegrationStatusFrame */
/** @typedef {import('./client').HotReloadState} HotReloadState */
/** @typedef {import('./client').ClientOptions} ClientOptions */

export const PROTOCOL = 1;
export const MIN_DELAY_MS = 500;
export const MAX_DELAY_MS = 10_000;
export const STREAM_PATH = '/ws/hot-reload';

/**
 * The wait before reconnect attempt `attempt` (0-based): the ceiling doubles
 * from `min` up to `max`, and the wait is drawn from the upper half of the
 * ceiling (never below `min`), so a crowd of clients does not reconnect in
 * step after a server restart.
 * @param {number} attempt
 * @param {number} [random] a number in [0, 1)
 * @param {number} [min]
 * @param {number} [max]
 */
export function backoffDelay(attempt, random = Math.random(), min = MIN_DELAY_MS, max = MAX_DELAY_MS) {
  const ceiling = Math.min(max, min * 2 ** Math.max(0, attempt));
  return Math.round(Math.max(min, ceiling * (0.5 + 0.5 * random)));
}

// ---- RFC 6902 JSON Patch --------------------------------------------------

/**
 * Thrown when a patch does not fit the document it is applied to, or is not
 * a patch at all (an op without `path`, `add` without `value`): every
 * failure of `applyJsonPatch` is one.
 */
export class PatchError extends Error {}

function unescapeToken(t) {
  return t.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** The tokens of the pointer in `op[field]` (`path` or `from`). */
function pointerOf(op, field) {
  const pointer = op[field];
  if (typeof pointer !== 'string') {
    throw new PatchError(`op ${JSON.stringify(op.op)} needs a string \`${field}\`, found ${pointer === null ? 'null' : typeof pointer}`);
  }
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`bad JSON pointer ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescapeToken);
}

/** `op.value`, which `add`, `replace` and `test` must carry. */
function valueOf(op) {
  if (!Object.hasOwn(op, 'value') || op.value === undefined) {
    throw new PatchError(`op ${JSON.stringify(op.op)} at ${JSON.stringify(op.path)} has no \`value\``);
  }
  return op.value;
}

function clone(v) {
  return v === undefined ? undefined : structuredClone(v);
}

function isContainer(v) {
  return v !== null && typeof v === 'object';
}

/** JSON equality: members in any order, items in order, `1` equal to `1.0`. */
function deepEqual(a, b) {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/**
 * Sets `obj[key]` as an own member, whatever the key: an assignment to
 * `__proto__` would change the object's prototype and drop the member.
 */
function setOwn(obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A shallow copy of a container (own members only, `__proto__` kept as one). */
function copyOf(node) {
  return Array.isArray(node) ? node.slice() : { ...node };
}

/** Copies the containers along `tokens` so the original document is untouched. */
function editAt(doc, tokens, edit) {
  if (!isContainer(doc)) throw new PatchError(`no container at the root (it is ${doc === null ? 'null' : typeof doc})`);
  const root = copyOf(doc);
  let node = root;
  for (let i = 0; i < tokens.length - 1; i++) {
    const key = Array.isArray(node) ? index(node, tokens[i], false) : tokens[i];
    const child = Array.isArray(node) || Object.hasOwn(node, key) ? node[key] : undefined;
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

function index(arr, token, forAdd) {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`bad array index ${token}`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`index ${i} out of range`);
  return i;
}

function get(doc, tokens) {
  let node = doc;
  for (const t of tokens) {
    if (!isContainer(node)) throw new PatchError(`no value at /${tokens.join('/')}`);
    const key = Array.isArray(node) ? index(node, t, false) : t;
    if (!Array.isArray(node) && !Object.hasOwn(node, key)) throw new PatchError(`no value at /${tokens.join('/')}`);
    node = node[key];
  }
  return node;
}

function add(doc, tokens, value) {
  if (tokens.length === 0) return clone(value);
  return editAt(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) parent.splice(index(parent, key, true), 0, clone(value));
    else setOwn(parent, key, clone(value));
  });
}

function remove(doc, tokens) {
  if (tokens.length === 0) return null;
  get(doc, tokens);
  return editAt(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) parent.splice(index(parent, key, false), 1);
    else delete parent[key];
  });
}

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
 * @param {unknown} doc
 * @param {ReadonlyArray<import('./frames').JsonPatchOp>} ops
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
  return out;
}

// ---- state ----------------------------------------------------------------

/** @returns {HotReloadState} */
export function initialState() {
  return {
    status: 'idle',
    revision: null,
    serverRevision: null,
    head: null,
    workflows: [],
    integrations: [],
    errors: [],
    errorsTotal: 0,
    errorsTruncated: false,
    lastEvent: null,
    attempt: 0,
    retryAt: null,
    disconnectedSince: null,
  };
}

function byId(a, b) {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** An integration's status in any of the shapes the server may send. */
function normalizeStatus(item) {
  const s = item.status;
  if (s && typeof s === 'object') return { ...s };
  if (typeof s === 'string') {
    return {
      status: s,
      latency_ms: item.latency_ms ?? null,
      detail: item.detail ?? null,
      http_status: item.http_status ?? null,
    };
  }
  return null;
}

function integrationFromWire(item) {
  return { ...item, status: normalizeStatus(item) };
}

/**
 * `fresh`, with every entry equal to the one `held` has under its id
 * replaced by the held object, so a resync keeps the identity of what did
 * not change.
 */
function keepUnchanged(held, fresh) {
  if (held.length === 0) return fresh;
  const old = new Map(held.map((e) => [e.id, e]));
  return fresh.map((e) => {
    const o = old.get(e.id);
    return o !== undefined && deepEqual(o, e) ? o : e;
  });
}

/**
 * The state after a `snapshot` frame: everything replaced.
 * @param {HotReloadState} state
 * @param {SnapshotFrame} frame
 * @returns {HotReloadState}
 */
export function applySnapshot(state, frame) {
  return {
    ...state,
    revision: frame.revision,
    head: frame.head ?? state.head,
    workflows: keepUnchanged(state.workflows, [...frame.workflows].sort(byId)),
    integrations: keepUnchanged(state.integrations, frame.integrations.map(integrationFromWire).sort(byId)),
    ...errorsOf(frame),
  };
}

/** The errors a snapshot or reload frame carries, with their totals. */
function errorsOf(frame) {
  return {
    errors: frame.errors,
    errorsTotal: frame.errors_total ?? frame.errors.length,
    errorsTruncated: frame.errors_truncated ?? false,
  };
}

/**
 * Applies the patches of one kind to `list` (sorted by id) in one pass.
 * Entries no patch names keep their object identity, so a view (or a
 * `React.memo` row) can tell unchanged entities by `===`; the list is
 * re-sorted only when an entity was added.
 */
function patchList(list, patches, revision, field) {
  if (patches.length === 0) return list;
  const at = new Map(list.map((e, i) => [e.id, i]));
  const next = list.slice();
  let added = false;
  let removed = false;
  for (const patch of patches) {
    const i = at.get(patch.id);
    const held = i === undefined ? undefined : next[i];
    if (patch.op === 'removed') {
      if (held === undefined) throw new PatchError(`${patch.kind} ${patch.id} was removed but is not held`);
      next[i] = undefined;
      at.delete(patch.id);
      removed = true;
      continue;
    }
    if (patch.op === 'added' && held !== undefined) throw new PatchError(`${patch.kind} ${patch.id} was added but is already held`);
    if (patch.op === 'modified' && held === undefined) throw new PatchError(`${patch.kind} ${patch.id} was modified but is not held`);
    const before = held === undefined ? null : held[field];
    const after = applyJsonPatch(before, patch.json_patch);
    const entry = { ...(held ?? { id: patch.id, status: null }), file: patch.file, revision, [field]: after };
    if (field === 'config' && after && typeof after === 'object' && 'enabled' in after) entry.enabled = after.enabled;
    if (held === undefined) {
      at.set(patch.id, next.length);
      next.push(entry);
      added = true;
    } else {
      next[i] = entry;
    }
  }
  const out = removed ? next.filter((e) => e !== undefined) : next;
  return added ? out.sort(byId) : out;
}

/**
 * The state after a `reload` frame: each patch applied in place. Throws
 * `PatchError` when the frame does not follow the revision held or a patch
 * does not fit (the caller resyncs).
 * @param {HotReloadState} state
 * @param {ReloadFrame} frame
 * @returns {HotReloadState}
 */
export function applyReload(state, frame) {
  if (state.revision !== null && frame.base_revision !== state.revision) {
    throw new PatchError(`revision ${frame.revision} builds on ${frame.base_revision}, but ${state.revision} is held`);
  }
  const ofKind = (kind) => frame.patches.filter((p) => p.kind === kind);
  const workflows = patchList(state.workflows, ofKind('workflow'), frame.revision, 'definition');
  const integrations = patchList(state.integrations, ofKind('integration'), frame.revision, 'config');
  return {
    ...state,
    revision: frame.revision,
    head: frame.cause?.head ?? state.head,
    workflows,
    integrations,
    ...errorsOf(frame),
    lastEvent: frame,
  };
}

/**
 * The state after an `integration_status` frame.
 * @param {HotReloadState} state
 * @param {IntegrationStatusFrame} frame
 * @returns {HotReloadState}
 */
export function applyIntegrationStatus(state, frame) {
  const { type: _type, ...status } = frame;
  const i = state.integrations.findIndex((e) => e.id === frame.id);
  if (i < 0) return state;
  const integrations = state.integrations.map((e, j) => (j === i ? { ...e, status } : e));
  return { ...state, integrations };
}

/**
 * The errors a reload left in the files it read (the ones a person just
 * caused), as opposed to errors already in force elsewhere.
 * @param {ReloadFrame} frame
 */
export function errorsIntroduced(frame) {
  const files = new Set(frame.files ?? frame.patches.map((p) => p.file));
  return frame.errors.filter((e) => (e.severity ?? 'error') === 'error' && files.has(e.file));
}

/**
 * The files whose errors `frame` cleared, given the errors held before it.
 * @param {ReadonlyArray<import('./frames').ConfigError>} before
 * @param {ReloadFrame} frame
 */
export function filesFixed(before, frame) {
  const still = new Set(frame.errors.filter((e) => (e.severity ?? 'error') === 'error').map((e) => e.file));
  const had = new Set(before.filter((e) => (e.severity ?? 'error') === 'error').map((e) => e.file));
  return [...had].filter((f) => !still.has(f)).sort();
}

// ---- connection -----------------------------------------------------------

/**
 * The WebSocket URL of the stream at `baseUrl`, resuming after `since` of
 * server run `instance` (a restarted server answers with a snapshot). A
 * revision without its instance is not sent: the server could not tell it
 * from another run's and answers with a snapshot anyway.
 * @param {string} baseUrl  e.g. `http://127.0.0.1:7878`
 * @param {number|null} since
 * @param {string|null} [token]
 * @param {string|null} [instance]
 */
export function streamUrl(baseUrl, since, token, instance) {
  const url = new URL(STREAM_PATH, baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (since !== null && since !== undefined && instance) {
    url.searchParams.set('since', String(since));
    url.searchParams.set('instance', instance);
  }
  if (token) url.searchParams.set('token', token);
  return url.toString();
}

/**
 * Creates a client. Nothing happens until `start()`.
 * @param {ClientOptions} [options]
 */
export function createClient(options = {}) {
  const baseUrl = options.baseUrl ?? globalThis.location?.origin;
  if (!baseUrl) throw new Error('createClient: pass baseUrl (no page location to default to)');
  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
  if (!WebSocketImpl) throw new Error('createClient: no WebSocket here; pass options.WebSocket (the `ws` package in Node)');
  const doc = options.document === undefined ? globalThis.document : options.document;
  const minDelay = options.minDelayMs ?? MIN_DELAY_MS;
  const maxDelay = options.maxDelayMs ?? MAX_DELAY_MS;
  const random = options.random ?? Math.random;
  const on = {
    frame: options.onFrame,
    snapshot: options.onSnapshot,
    reload: options.onReload,
    integrationStatus: options.onIntegrationStatus,
    status: options.onStatus,
    resync: options.onResync,
  };

  /** @type {HotReloadState} */
  let state = initialState();
  const listeners = new Set();
  let socket = null;
  let timer = null;
  let running = false;
  let resumable = true;
  /** The server run the held revision came from. */
  let instance = null;
  /**
   * The run of the connection's `hello`: it becomes `instance` only once a
   * snapshot or reload of that connection is held, so a connection that
   * drops between its `hello` and its snapshot never pairs the old run's
   * revision with the new run's id.
   */
  let connectedTo = null;

  function set(next) {
    const statusChanged = next.status !== state.status;
    state = next;
    for (const l of [...listeners]) l(state);
    if (statusChanged) on.status?.(state.status, state);
  }

  function hidden() {
    return Boolean(doc && doc.visibilityState === 'hidden');
  }

  function clearTimer() {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  }

  function connect() {
    clearTimer();
    if (!running) return;
    if (hidden()) {
      set({ ...state, status: 'paused', retryAt: null });
      return;
    }
    const since = resumable ? state.revision : null;
    const first = state.revision === null && state.attempt === 0;
    set({ ...state, status: first ? 'connecting' : 'reconnecting', retryAt: null });
    let ws;
    try {
      ws = new WebSocketImpl(streamUrl(baseUrl, since, options.token, instance));
    } catch {
      scheduleRetry();
      return;
    }
    socket = ws;
    ws.onmessage = (message) => {
      if (socket !== ws) return;
      let frame;
      try {
        frame = JSON.parse(typeof message.data === 'string' ? message.data : String(message.data));
      } catch {
        return;
      }
      receive(frame, ws);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      if (running && !hidden()) scheduleRetry();
      else if (running) set({ ...state, status: 'paused', retryAt: null });
    };
    ws.onerror = () => {
      // `close` follows and decides what to do.
    };
  }

  function scheduleRetry() {
    clearTimer();
    const delay = backoffDelay(state.attempt, random(), minDelay, maxDelay);
    set({
      ...state,
      status: 'reconnecting',
      attempt: state.attempt + 1,
      retryAt: Date.now() + delay,
      disconnectedSince: state.disconnectedSince ?? Date.now(),
    });
    timer = setTimeout(connect, delay);
  }

  /** Drops what is held and reconnects for a fresh snapshot. */
  function resync(reason) {
    on.resync?.(reason, state);
    resumable = false;
    const ws = socket;
    socket = null;
    ws?.close();
    connect();
  }

  function receive(frame, ws) {
    on.frame?.(frame, state);
    switch (frame.type) {
      case 'hello':
        resumable = true;
        connectedTo = frame.instance ?? null;
        set({ ...state, status: 'open', serverRevision: frame.revision, attempt: 0, retryAt: null, disconnectedSince: null });
        break;
      case 'snapshot':
        instance = connectedTo;
        set(applySnapshot(state, frame));
        on.snapshot?.(frame, state);
        break;
      case 'reload': {
        let next;
        try {
          next = applyReload(state, frame);
        } catch (e) {
          if (socket === ws) resync(e instanceof Error ? e.message : String(e));
          return;
        }
        const previous = state;
        instance = connectedTo;
        set(next);
        on.reload?.(frame, state, previous);
        break;
      }
      case 'integration_status':
        set(applyIntegrationStatus(state, frame));
        on.integrationStatus?.(frame, state);
        break;
      default:
        // Unknown frame types are for newer clients: ignored.
        break;
    }
  }

  function onVisibility() {
    if (!running) return;
    if (hidden()) {
      clearTimer();
      const ws = socket;
      socket = null;
      ws?.close();
      set({ ...state, status: 'paused', retryAt: null });
    } else if (socket === null) {
      set({ ...state, attempt: 0 });
      connect();
    }
  }

  return {
    /** The state now. */
    getState: () => state,
    /** Calls `listener(state)` on every change; returns the unsubscribe. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start() {
      if (running) return;
      running = true;
      doc?.addEventListener?.('visibilitychange', onVisibility);
      connect();
    },
    stop() {
      running = false;
      clearTimer();
      doc?.removeEventListener?.('visibilitychange', onVisibility);
      const ws = socket;
      socket = null;
      ws?.close();
      set({ ...state, status: 'closed', retryAt: null });
    },
    /** Reconnects now instead of waiting for the backoff. */
    reconnectNow() {
      if (!running || socket !== null) return;
      connect();
    },
  };
}
