// `useHotReload`: qa-reload's live configuration in a React component.
//
// A thin adapter over the one client core (`client.js`, the same module the
// page at `/` runs): it starts a client for the component's lifetime, mirrors
// its state into React, and forwards frames to the callbacks you pass (for
// toasts). Connection, resume, backoff, pausing while hidden and patch
// application all live in the core; nothing of it is repeated here.

import { useEffect, useRef, useState } from 'react';

import {
  createClient,
  errorsIntroduced,
  filesFixed,
  initialState,
  type ClientOptions,
  type ConfigError,
  type ConnectionStatus,
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

export function useHotReload(options: UseHotReloadOptions = {}): UseHotReload {
  const { baseUrl, token = null, enabled = true } = options;
  const [state, setState] = useState<HotReloadState>(initialState);
  // Callbacks change on every render; the connection must not.
  const latest = useRef(options);
  latest.current = options;

  useEffect(() => {
    if (!enabled) return undefined;
    const client = createClient({
      ...latest.current.client,
      baseUrl,
      token,
      onReload: (frame, next, previous) => {
        const cb = latest.current;
        cb.onReload?.(frame, next);
        const introduced = errorsIntroduced(frame);
        if (introduced.length > 0) cb.onError?.(introduced, frame);
        const fixed = filesFixed(previous.errors, frame);
        if (fixed.length > 0) cb.onFixed?.(fixed, frame);
      },
      onIntegrationStatus: (frame) => latest.current.onIntegrationStatus?.(frame),
      onStatus: (status) => latest.current.onStatus?.(status),
    });
    const unsubscribe = client.subscribe(setState);
    client.start();
    setState(client.getState());
    return () => {
      unsubscribe();
      client.stop();
    };
  }, [baseUrl, token, enabled]);

  return {
    status: state.status,
    revision: state.revision,
    workflows: state.workflows,
    integrations: state.integrations,
    errors: state.errors,
    lastEvent: state.lastEvent,
  };
}
