// Types of `client.js`, the one client core shared by the page and
// `useHotReload.ts`.

import type {
  ConfigError,
  Frame,
  Head,
  Integration,
  IntegrationStatusFrame,
  JsonPatchOp,
  ReloadFrame,
  SnapshotFrame,
  Workflow,
} from './frames';

export * from './frames';

/**
 * `idle` before `start()`; `connecting` the first time; `open` once `hello`
 * arrived; `reconnecting` while waiting to retry (see `retryAt`); `paused`
 * while the tab is hidden; `closed` after `stop()`.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'paused' | 'closed';

export interface HotReloadState {
  status: ConnectionStatus;
  /** The revision whose entities are held; `null` before the first snapshot. */
  revision: number | null;
  /** The server's revision when it said hello. */
  serverRevision: number | null;
  head: Head | null;
  /** Sorted by id; a reload keeps the object of every workflow its patches do not name. */
  workflows: Workflow[];
  integrations: Integration[];
  /** The diagnostics in force, at most 100 per file. */
  errors: ConfigError[];
  /** How many diagnostics are in force, held in `errors` or not. */
  errorsTotal: number;
  /** Whether `errors` leaves some out. */
  errorsTruncated: boolean;
  lastEvent: ReloadFrame | null;
  /** Failed attempts since the last `hello`. */
  attempt: number;
  /** When the next attempt starts (ms since the epoch), while reconnecting. */
  retryAt: number | null;
  /** When the connection was lost (ms since the epoch), until it is back. */
  disconnectedSince: number | null;
}

export interface ClientOptions {
  /** The server, e.g. `http://127.0.0.1:7878`; defaults to the page's origin. */
  baseUrl?: string;
  /** The API token, for servers bound off loopback. */
  token?: string | null;
  /** A WebSocket constructor; defaults to the global one (`ws` in Node). */
  WebSocket?: unknown;
  /** Whose `visibilityState` pauses the client; defaults to the global `document`, `null` for none. */
  document?: { visibilityState: string; addEventListener(t: string, f: () => void): void; removeEventListener(t: string, f: () => void): void } | null;
  /** Backoff bounds, default 500 and 10 000. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Jitter source, default `Math.random`. */
  random?: () => number;
  onFrame?: (frame: Frame, before: HotReloadState) => void;
  onSnapshot?: (frame: SnapshotFrame, state: HotReloadState) => void;
  /** After the patches of `frame` turned `previous` into `state`. */
  onReload?: (frame: ReloadFrame, state: HotReloadState, previous: HotReloadState) => void;
  onIntegrationStatus?: (frame: IntegrationStatusFrame, state: HotReloadState) => void;
  onStatus?: (status: ConnectionStatus, state: HotReloadState) => void;
  /** A frame did not fit what was held; a fresh snapshot is on its way. */
  onResync?: (reason: string, state: HotReloadState) => void;
}

export interface HotReloadClient {
  getState(): HotReloadState;
  subscribe(listener: (state: HotReloadState) => void): () => void;
  start(): void;
  stop(): void;
  reconnectNow(): void;
}

export const PROTOCOL: number;
export const MIN_DELAY_MS: number;
export const MAX_DELAY_MS: number;
export const STREAM_PATH: string;
/**
 * The one error `applyJsonPatch` (and applying a frame) throws: an op that
 * does not fit the document (a missing member, an index out of range, a
 * failed `test`, a member added under a scalar), or that is not an op (no
 * `path`, a `null` `from`, `add`/`replace`/`test` without `value`).
 */
export class PatchError extends Error {}
export function backoffDelay(attempt: number, random?: number, min?: number, max?: number): number;
/**
 * RFC 6902: `ops` applied to `doc`, which is not changed; all or nothing
 * (on a `PatchError` nothing was applied). `test` compares as JSON (members
 * in any order); a member named `__proto__` is a member like any other.
 */
export function applyJsonPatch<T = unknown>(doc: unknown, ops: ReadonlyArray<JsonPatchOp>): T;
export function initialState(): HotReloadState;
export function applySnapshot(state: HotReloadState, frame: SnapshotFrame): HotReloadState;
export function applyReload(state: HotReloadState, frame: ReloadFrame): HotReloadState;
export function applyIntegrationStatus(state: HotReloadState, frame: IntegrationStatusFrame): HotReloadState;
export function errorsIntroduced(frame: ReloadFrame): ConfigError[];
export function filesFixed(before: ReadonlyArray<ConfigError>, frame: ReloadFrame): string[];
export function streamUrl(
  baseUrl: string,
  since: number | null,
  token?: string | null,
  instance?: string | null,
): string;
export function createClient(options?: ClientOptions): HotReloadClient;
