// @ts-check
// The one client core of qa-reload's live stream (docs/protocol.md), shared by the
// page served at `/` and the React hook `useHotReload.ts`.
//
// It connects to `/ws/hot-reload`, resumes with `since=<last revision>` after
// a drop (with `since=<commit>` from a server following a branch, which any
// server following it answers), reconnects with exponential backoff and jitter (0.5 s to 10 s),
// pauses while the tab is hidden, and keeps one immutable state: the
// workflows, integrations and errors in force, updated in place from each
// `reload` frame's RFC 6902 JSON Patch. When a patch does not fit what it
// holds (a missed revision, a server restart) it resyncs from a snapshot
// instead of guessing. Plain ES module, no dependencies: it runs in browsers
// and in Node (pass `WebSocket` from the `ws` package there).
//
// Types: the JSDoc below, checked by `tsc` (`// @ts-check`); `client.d.ts`
// is generated from it by `scripts/gen-client-types`, and `frames.ts` types
// every frame.

/**
 * @import {
 *   ConfigError, EntityKind, Frame, Head, Integration, IntegrationStatusFrame,
 *   Patch, ReloadFrame, SnapshotFrame, Workflow,
 * } from './frames'
 */

/**
 * `idle` before `start()`; `connecting` the first time; `open` once `hello`
 * arrived; `reconnecting` while waiting to retry (see `retryAt`); `paused`
 * while the tab is hidden; `closed` after `stop()`.
 * @typedef {'idle' | 'connecting' | 'open' | 'reconnecting' | 'paused' | 'closed'} ConnectionStatus
 */

/**
 * Everything a client holds, replaced (never changed) on each frame.
 * @typedef {object} HotReloadState
 * @property {ConnectionStatus} status
 * @property {number | null} revision The revision whose entities are held; `null` before the first snapshot.
 * @property {number | null} serverRevision The server's revision when it said hello.
 * @property {string | null} commit The commit whose state is held, from a server following a branch (`serve --follow`); `null` otherwise.
 * @property {Head | null} head
 * @property {Workflow[]} workflows Sorted by id; a reload keeps the object of every workflow its patches do not name.
 * @property {Integration[]} integrations
 * @property {ConfigError[]} errors The diagnostics in force, at most 100 per file.
 * @property {number} errorsTotal How many diagnostics are in force, held in `errors` or not.
 * @property {boolean} errorsTruncated Whether `errors` leaves some out.
 * @property {ReloadFrame | null} lastEvent
 * @property {number} attempt Failed attempts since the last `hello`.
 * @property {number | null} retryAt When the next attempt starts (ms since the epoch), while reconnecting.
 * @property {number | null} disconnectedSince When the connection was lost (ms since the epoch), until it is back.
 */

/**
 * What `visibilityState` pauses a client.
 * @typedef {object} VisibilitySource
 * @property {string} visibilityState
 * @property {(type: string, listener: () => void) => void} addEventListener
 * @property {(type: string, listener: () => void) => void} removeEventListener
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] The server, e.g. `http://127.0.0.1:7878`; defaults to the page's origin.
 * @property {string | null} [token] The API token, for servers bound off loopback.
 * @property {unknown} [WebSocket] A WebSocket constructor; defaults to the global one (`ws` in Node).
 * @property {VisibilitySource | null} [document] Whose `visibilityState` pauses the client; defaults to the global `document`, `null` for none.
 * @property {number} [minDelayMs] Backoff bounds, default 500 and 10 000.
 * @property {number} [maxDelayMs]
 * @property {() => number} [random] Jitter source, default `Math.random`.
 * @property {(frame: Frame, before: HotReloadState) => void} [onFrame]
 * @property {(frame: SnapshotFrame, state: HotReloadState) => void} [onSnapshot]
 * @property {(frame: ReloadFrame, state: HotReloadState, previous: HotReloadState) => void} [onReload] After the patches of `frame` turned `previous` into `state`.
 * @property {(frame: IntegrationStatusFrame, state: HotReloadState) => void} [onIntegrationStatus]
 * @property {(status: ConnectionStatus, state: HotReloadState) => void} [onStatus]
 * @property {(reason: string, state: HotReloadState) => void} [onResync] A frame did not fit what was held; a fresh snapshot is on its way.
 */

/**
 * @typedef {object} HotReloadClient
 * @property {() => HotReloadState} getState The state now.
 * @property {(listener: (state: HotReloadState) => void) => () => void} subscribe Calls `listener(state)` on every change; returns the unsubscribe.
 * @property {() => void} start
 * @property {() => void} stop
 * @property {() => void} reconnectNow Reconnects now instead of waiting for the backoff.
 */

/**
 * The part of a WebSocket the client uses (the browser's, or `ws` in Node).
 * @typedef {object} Socket
 * @property {((message: { data: unknown }) => void) | null} onmessage
 * @property {(() => void) | null} onclose
 * @property {(() => void) | null} onerror
 * @property {() => void} close
 */

import { PatchError, applyJsonPatch, deepEqual } from './json_patch.js';

export { PatchError, applyJsonPatch };

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

// ---- state ----------------------------------------------------------------

/** @returns {HotReloadState} */
export function initialState() {
  return {
    status: 'idle',
    revision: null,
    serverRevision: null,
    commit: null,
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

/**
 * @param {{ id: string }} a
 * @param {{ id: string }} b
 */
function byId(a, b) {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * `fresh`, with every entry equal to the one `held` has under its id
 * replaced by the held object, so a resync keeps the identity of what did
 * not change.
 * @template {{ id: string }} E
 * @param {E[]} held
 * @param {E[]} fresh
 * @returns {E[]}
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
    commit: frame.commit ?? null,
    head: frame.head ?? state.head,
    workflows: keepUnchanged(state.workflows, [...frame.workflows].sort(byId)),
    integrations: keepUnchanged(state.integrations, [...frame.integrations].sort(byId)),
    ...errorsOf(frame),
  };
}

/**
 * The errors a snapshot or reload frame carries, with their totals.
 * @param {SnapshotFrame | ReloadFrame} frame
 */
function errorsOf(frame) {
  return {
    errors: frame.errors,
    errorsTotal: frame.errors_total,
    errorsTruncated: frame.errors_truncated,
  };
}

/**
 * Applies the patches of one kind to `list` (sorted by id) in one pass.
 * Entries no patch names keep their object identity, so a view (or a
 * `React.memo` row) can tell unchanged entities by `===`; the list is
 * re-sorted only when an entity was added.
 * @template {Workflow | Integration} E
 * @param {E[]} list
 * @param {Patch[]} patches
 * @param {number} revision
 * @param {'definition' | 'config'} field the entity document the patches apply to
 * @returns {E[]}
 */
function patchList(list, patches, revision, field) {
  if (patches.length === 0) return list;
  const at = new Map(list.map((e, i) => [e.id, i]));
  /** @type {Array<E | undefined>} */
  const next = list.slice();
  let added = false;
  let removed = false;
  for (const patch of patches) {
    const i = at.get(patch.id);
    const held = i === undefined ? undefined : next[i];
    if (patch.op === 'removed') {
      if (i === undefined || held === undefined) throw new PatchError(`${patch.kind} ${patch.id} was removed but is not held`);
      next[i] = undefined;
      at.delete(patch.id);
      removed = true;
      continue;
    }
    if (patch.op === 'added' && held !== undefined) throw new PatchError(`${patch.kind} ${patch.id} was added but is already held`);
    if (patch.op === 'modified' && held === undefined) throw new PatchError(`${patch.kind} ${patch.id} was modified but is not held`);
    const before = held === undefined ? null : 'definition' in held ? held.definition : held.config;
    const after = applyJsonPatch(before, patch.json_patch);
    /** @type {Record<string, unknown>} */
    const entry = { ...(held ?? { id: patch.id, status: null }), file: patch.file, revision, [field]: after };
    if (field === 'config' && after && typeof after === 'object' && 'enabled' in after) entry.enabled = after.enabled;
    // Follow mode: the commit that made this change is the entity's last.
    if (patch.last_change) entry.last_change = patch.last_change;
    if (i === undefined || held === undefined) {
      at.set(patch.id, next.length);
      next.push(/** @type {E} */ (entry));
      added = true;
    } else {
      next[i] = /** @type {E} */ (entry);
    }
  }
  const out = removed ? next.filter((e) => e !== undefined) : /** @type {E[]} */ (next);
  return added ? out.sort(byId) : out;
}

/**
 * The state after a `reload` frame: each patch applied in place. Throws
 * `PatchError` when the frame does not follow the revision held (or, for a
 * resume from a commit, the commit held) or a patch does not fit (the
 * caller resyncs).
 * @param {HotReloadState} state
 * @param {ReloadFrame} frame
 * @returns {HotReloadState}
 */
export function applyReload(state, frame) {
  if (frame.base_commit) {
    if (frame.base_commit !== state.commit) {
      throw new PatchError(`revision ${frame.revision} builds on commit ${frame.base_commit}, but ${state.commit ?? 'no commit'} is held`);
    }
  } else if (state.revision !== null && frame.base_revision !== state.revision) {
    throw new PatchError(`revision ${frame.revision} builds on ${frame.base_revision}, but ${state.revision} is held`);
  }
  /** @param {EntityKind} kind */
  const ofKind = (kind) => frame.patches.filter((p) => p.kind === kind);
  const workflows = patchList(state.workflows, ofKind('workflow'), frame.revision, 'definition');
  const integrations = patchList(state.integrations, ofKind('integration'), frame.revision, 'config');
  return {
    ...state,
    revision: frame.revision,
    commit: frame.commit ?? null,
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
  const files = new Set(frame.files);
  return frame.errors.filter((e) => e.severity === 'error' && files.has(e.file));
}

/**
 * The files whose errors `frame` cleared, given the errors held before it.
 * @param {ReadonlyArray<ConfigError>} before
 * @param {ReloadFrame} frame
 */
export function filesFixed(before, frame) {
  const still = new Set(frame.errors.filter((e) => e.severity === 'error').map((e) => e.file));
  const had = new Set(before.filter((e) => e.severity === 'error').map((e) => e.file));
  return [...had].filter((f) => !still.has(f)).sort();
}

// ---- connection -----------------------------------------------------------

/**
 * The WebSocket URL of the stream at `baseUrl`, resuming after `since` of
 * server run `instance` (a restarted server answers with a snapshot), or
 * from `commit` when one is given (a server following a branch: any server
 * following it answers, restarted or not). A revision without its instance
 * is not sent: the server could not tell it from another run's and answers
 * with a snapshot anyway.
 * @param {string} baseUrl  e.g. `http://127.0.0.1:7878`
 * @param {number|null} since
 * @param {string|null} [token]
 * @param {string|null} [instance]
 * @param {string|null} [commit]
 */
export function streamUrl(baseUrl, since, token, instance, commit) {
  const url = new URL(STREAM_PATH, baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (commit) {
    url.searchParams.set('since', commit);
  } else if (since !== null && since !== undefined && instance) {
    url.searchParams.set('since', String(since));
    url.searchParams.set('instance', instance);
  }
  if (token) url.searchParams.set('token', token);
  return url.toString();
}

/**
 * Creates a client. Nothing happens until `start()`.
 * @param {ClientOptions} [options]
 * @returns {HotReloadClient}
 */
export function createClient(options = {}) {
  const baseUrl = options.baseUrl ?? globalThis.location?.origin;
  if (!baseUrl) throw new Error('createClient: pass baseUrl (no page location to default to)');
  const givenWebSocket = options.WebSocket ?? globalThis.WebSocket;
  if (!givenWebSocket) throw new Error('createClient: no WebSocket here; pass options.WebSocket (the `ws` package in Node)');
  const WebSocketImpl = /** @type {new (url: string) => Socket} */ (givenWebSocket);
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
  /** @type {Set<(state: HotReloadState) => void>} */
  const listeners = new Set();
  /** @type {Socket | null} */
  let socket = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let running = false;
  let resumable = true;
  /**
   * The server run the held revision came from.
   * @type {string | null}
   */
  let instance = null;
  /**
   * The run of the connection's `hello`: it becomes `instance` only once a
   * snapshot or reload of that connection is held, so a connection that
   * drops between its `hello` and its snapshot never pairs the old run's
   * revision with the new run's id.
   * @type {string | null}
   */
  let connectedTo = null;
  /**
   * The commit this connection resumes from, if it asked with one.
   * @type {string | null}
   */
  let resumedFrom = null;

  /** @param {HotReloadState} next */
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
    const commit = resumable && state.revision !== null ? state.commit : null;
    const first = state.revision === null && state.attempt === 0;
    set({ ...state, status: first ? 'connecting' : 'reconnecting', retryAt: null });
    let ws;
    try {
      ws = new WebSocketImpl(streamUrl(baseUrl, since, options.token, instance, commit));
    } catch {
      scheduleRetry();
      return;
    }
    socket = ws;
    resumedFrom = commit;
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

  /**
   * Drops what is held and reconnects for a fresh snapshot.
   * @param {string} reason
   */
  function resync(reason) {
    on.resync?.(reason, state);
    resumable = false;
    const ws = socket;
    socket = null;
    ws?.close();
    connect();
  }

  /**
   * @param {Frame} frame
   * @param {Socket} ws the connection it came on
   */
  function receive(frame, ws) {
    on.frame?.(frame, state);
    switch (frame.type) {
      case 'hello': {
        resumable = true;
        connectedTo = frame.instance ?? null;
        const open = { ...state, status: /** @type {const} */ ('open'), serverRevision: frame.revision, attempt: 0, retryAt: null, disconnectedSince: null };
        if (resumedFrom !== null && frame.commit === resumedFrom) {
          // The server serves the commit held: nothing follows, and its
          // next reload builds on its own revision, which is now held.
          instance = connectedTo;
          set({ ...open, revision: frame.revision });
        } else {
          set(open);
        }
        break;
      }
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
