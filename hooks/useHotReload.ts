// `useHotReload`: qa-reload's live configuration in a React component.
//
// A thin adapter over the one client core (`client.js`, the same module the
// page at `/` runs): it starts a client for the component's lifetime, reads
// its state with `useSyncExternalStore` (the core's `subscribe` and
// `getState`), and forwards frames to the callbacks you pass (for toasts).
// Connection, resume, backoff, pausing while hidden and patch application
// all live in the core; nothing of it is repeated here.

import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';

import {
  createClient,
  errorsIntroduced,
  filesFixed,
  initialState,
  type ClientOptions,
  type ConfigError,
  type ConnectionStatus,
  type HotReloadClient,
  type HotReloadState,
  type Integration,
  type IntegrationStatusFrame,
  type ReloadFrame,
  type Workflow,
} from './client.js';

export type * from './client.js';

export interface UseHotReloadOptions {
  /** The server, e.g. `http://127.0.0.1:7878`; defaults to the page's origin. */
  baseUrl?: string;
  /** The API token, for servers bound off loopback. */
  token?: string | null;
  /** Set `false` to stay disconnected (e.g. until a setting is known). */
  enabled?: boolean;
  /** A revision was applied; `frame.summary` and `frame.patches` say what changed. */
  onReload?: (frame: ReloadFrame, state: HotReloadState) => void;
  /** A reload left errors in the files it read (`file:line:column`, message). */
  onError?: (errors: ConfigError[], frame: ReloadFrame) => void;
  /** A reload fixed every error of these files. */
  onFixed?: (files: string[], frame: ReloadFrame) => void;
  /** A connection test finished or started. */
  onIntegrationStatus?: (frame: IntegrationStatusFrame) => void;
  /** The connection went `open`, `reconnecting`, `paused`, …. */
  onStatus?: (status: ConnectionStatus) => void;
  /** Passed to the core, for tests and for Node (`WebSocket`, `document`, backoff). */
  client?: Omit<ClientOptions, 'baseUrl' | 'token' | 'onReload' | 'onIntegrationStatus' | 'onStatus'>;
}

export interface UseHotReload {
  status: ConnectionStatus;
  revision: number | null;
  workflows: Workflow[];
  integrations: Integration[];
  errors: ConfigError[];
  lastEvent: ReloadFrame | null;
}

/** The state before a client exists (or while the hook is disabled). */
const IDLE: HotReloadState = initialState();

export function useHotReload(options: UseHotReloadOptions = {}): UseHotReload {
  const { baseUrl, token = null, enabled = true } = options;
  // Callbacks change on every render; the connection must not. They are
  // read when a frame arrives, so the latest ones are kept after each render.
  const latest = useRef(options);
  useEffect(() => {
    latest.current = options;
  });

  const [client, setClient] = useState<HotReloadClient | null>(null);
  useEffect(() => {
    if (!enabled) return undefined;
    const next = createClient({
      ...latest.current.client,
      baseUrl,
      token,
      onReload: (frame, state, previous) => {
        const cb = latest.current;
        cb.onReload?.(frame, state);
        const introduced = errorsIntroduced(frame);
        if (introduced.length > 0) cb.onError?.(introduced, frame);
        const fixed = filesFixed(previous.errors, frame);
        if (fixed.length > 0) cb.onFixed?.(fixed, frame);
      },
      onIntegrationStatus: (frame) => latest.current.onIntegrationStatus?.(frame),
      onStatus: (status) => latest.current.onStatus?.(status),
    });
    next.start();
    setClient(next);
    return () => {
      next.stop();
      setClient((held) => (held === next ? null : held));
    };
  }, [baseUrl, token, enabled]);

  // While disabled there is no client to read, whatever the last one held:
  // the render that turns `enabled` off already shows the idle state.
  const active = enabled ? client : null;
  const subscribe = useCallback(
    (onChange: () => void) => (active ? active.subscribe(onChange) : () => {}),
    [active],
  );
  const getState = useCallback(() => (active ? active.getState() : IDLE), [active]);
  const state = useSyncExternalStore(subscribe, getState, getState);

  return {
    status: state.status,
    revision: state.revision,
    workflows: state.workflows,
    integrations: state.integrations,
    errors: state.errors,
    lastEvent: state.lastEvent,
  };
}
