// Generated from the JSDoc types of hooks/client.js by `scripts/gen-client-types`
// (tsc --declaration); do not edit by hand: a test fails when it differs.
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
export function backoffDelay(attempt: number, random?: number, min?: number, max?: number): number;
/** @returns {HotReloadState} */
export function initialState(): HotReloadState;
/**
 * The state after a `snapshot` frame: everything replaced.
 * @param {HotReloadState} state
 * @param {SnapshotFrame} frame
 * @returns {HotReloadState}
 */
export function applySnapshot(state: HotReloadState, frame: SnapshotFrame): HotReloadState;
/**
 * The state after a `reload` frame: each patch applied in place. Throws
 * `PatchError` when the frame does not follow the revision held (or, for a
 * resume from a commit, the commit held) or a patch does not fit (the
 * caller resyncs).
 * @param {HotReloadState} state
 * @param {ReloadFrame} frame
 * @returns {HotReloadState}
 */
export function applyReload(state: HotReloadState, frame: ReloadFrame): HotReloadState;
/**
 * The state after an `integration_status` frame.
 * @param {HotReloadState} state
 * @param {IntegrationStatusFrame} frame
 * @returns {HotReloadState}
 */
export function applyIntegrationStatus(state: HotReloadState, frame: IntegrationStatusFrame): HotReloadState;
/**
 * The errors a reload left in the files it read (the ones a person just
 * caused), as opposed to errors already in force elsewhere.
 * @param {ReloadFrame} frame
 */
export function errorsIntroduced(frame: ReloadFrame): ConfigError[];
/**
 * The files whose errors `frame` cleared, given the errors held before it.
 * @param {ReadonlyArray<ConfigError>} before
 * @param {ReloadFrame} frame
 */
export function filesFixed(before: ReadonlyArray<ConfigError>, frame: ReloadFrame): string[];
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
export function streamUrl(baseUrl: string, since: number | null, token?: string | null, instance?: string | null, commit?: string | null): string;
/**
 * Creates a client. Nothing happens until `start()`.
 * @param {ClientOptions} [options]
 * @returns {HotReloadClient}
 */
export function createClient(options?: ClientOptions): HotReloadClient;
export const PROTOCOL: 1;
export const MIN_DELAY_MS: 500;
export const MAX_DELAY_MS: 10000;
export const STREAM_PATH: "/ws/hot-reload";
/**
 * `idle` before `start()`; `connecting` the first time; `open` once `hello`
 * arrived; `reconnecting` while waiting to retry (see `retryAt`); `paused`
 * while the tab is hidden; `closed` after `stop()`.
 */
export type ConnectionStatus = "idle" | "connecting" | "open" | "reconnecting" | "paused" | "closed";
/**
 * Everything a client holds, replaced (never changed) on each frame.
 */
export type HotReloadState = {
    status: ConnectionStatus;
    /**
     * The revision whose entities are held; `null` before the first snapshot.
     */
    revision: number | null;
    /**
     * The server's revision when it said hello.
     */
    serverRevision: number | null;
    /**
     * The commit whose state is held, from a server following a branch (`serve --follow`); `null` otherwise.
     */
    commit: string | null;
    head: Head | null;
    /**
     * Sorted by id; a reload keeps the object of every workflow its patches do not name.
     */
    workflows: Workflow[];
    integrations: Integration[];
    /**
     * The diagnostics in force, at most 100 per file.
     */
    errors: ConfigError[];
    /**
     * How many diagnostics are in force, held in `errors` or not.
     */
    errorsTotal: number;
    /**
     * Whether `errors` leaves some out.
     */
    errorsTruncated: boolean;
    lastEvent: ReloadFrame | null;
    /**
     * Failed attempts since the last `hello`.
     */
    attempt: number;
    /**
     * When the next attempt starts (ms since the epoch), while reconnecting.
     */
    retryAt: number | null;
    /**
     * When the connection was lost (ms since the epoch), until it is back.
     */
    disconnectedSince: number | null;
};
/**
 * What `visibilityState` pauses a client.
 */
export type VisibilitySource = {
    visibilityState: string;
    addEventListener: (type: string, listener: () => void) => void;
    removeEventListener: (type: string, listener: () => void) => void;
};
export type ClientOptions = {
    /**
     * The server, e.g. `http://127.0.0.1:7878`; defaults to the page's origin.
     */
    baseUrl?: string | undefined;
    /**
     * The API token, for servers bound off loopback.
     */
    token?: string | null | undefined;
    /**
     * A WebSocket constructor; defaults to the global one (`ws` in Node).
     */
    WebSocket?: unknown;
    /**
     * Whose `visibilityState` pauses the client; defaults to the global `document`, `null` for none.
     */
    document?: VisibilitySource | null | undefined;
    /**
     * Backoff bounds, default 500 and 10 000.
     */
    minDelayMs?: number | undefined;
    maxDelayMs?: number | undefined;
    /**
     * Jitter source, default `Math.random`.
     */
    random?: (() => number) | undefined;
    onFrame?: ((frame: Frame, before: HotReloadState) => void) | undefined;
    onSnapshot?: ((frame: SnapshotFrame, state: HotReloadState) => void) | undefined;
    /**
     * After the patches of `frame` turned `previous` into `state`.
     */
    onReload?: ((frame: ReloadFrame, state: HotReloadState, previous: HotReloadState) => void) | undefined;
    onIntegrationStatus?: ((frame: IntegrationStatusFrame, state: HotReloadState) => void) | undefined;
    onStatus?: ((status: ConnectionStatus, state: HotReloadState) => void) | undefined;
    /**
     * A frame did not fit what was held; a fresh snapshot is on its way.
     */
    onResync?: ((reason: string, state: HotReloadState) => void) | undefined;
};
export type HotReloadClient = {
    /**
     * The state now.
     */
    getState: () => HotReloadState;
    /**
     * Calls `listener(state)` on every change; returns the unsubscribe.
     */
    subscribe: (listener: (state: HotReloadState) => void) => () => void;
    start: () => void;
    stop: () => void;
    /**
     * Reconnects now instead of waiting for the backoff.
     */
    reconnectNow: () => void;
};
/**
 * The part of a WebSocket the client uses (the browser's, or `ws` in Node).
 */
export type Socket = {
    onmessage: ((message: {
        data: unknown;
    }) => void) | null;
    onclose: (() => void) | null;
    onerror: (() => void) | null;
    close: () => void;
};
import type { SnapshotFrame } from './frames';
import type { ReloadFrame } from './frames';
import type { IntegrationStatusFrame } from './frames';
import type { ConfigError } from './frames';
import { PatchError } from './json_patch.js';
import { applyJsonPatch } from './json_patch.js';
import type { Head } from './frames';
import type { Workflow } from './frames';
import type { Integration } from './frames';
import type { Frame } from './frames';
export { PatchError, applyJsonPatch };

export type * from './frames';
