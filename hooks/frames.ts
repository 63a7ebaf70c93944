// TypeScript types for every frame of qa-reload's WebSocket stream
// `/ws/hot-reload` and the entities they carry (docs/protocol.md). The server may
// add fields; clients ignore the ones they do not know.

/** `added`, `modified` or `removed`. */
export type PatchOp = 'added' | 'modified' | 'removed';
export type EntityKind = 'workflow' | 'integration' | 'settings';
export type CauseKind =
  | 'startup'
  | 'edit'
  | 'branch_switch'
  | 'commit'
  | 'reset'
  | 'rebase'
  | 'merge'
  | 'head_moved'
  | 'manual'
  | 'rescan';

/** One RFC 6902 operation. */
export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** A problem in one file, with its 1-based position (column in characters). */
export interface ConfigError {
  file: string;
  line: number;
  column: number;
  kind: 'syntax' | 'schema' | 'reference' | 'io';
  severity?: 'error' | 'warning';
  message: string;
  entity?: { kind: EntityKind; id: string } | null;
  /** The offending source line, secrets masked, when the server sends it. */
  excerpt?: string | null;
}

/** One semantic change, e.g. `steps[id=reproduce].estimated_minutes`. */
export interface Change {
  path: string;
  op: 'add' | 'remove' | 'replace' | 'move' | 'rename';
  old?: unknown;
  new?: unknown;
  /** Line of the new value (of the old one for a removal). */
  line?: number | null;
}

export interface DiffLine {
  tag: 'equal' | 'insert' | 'delete';
  old_line: number | null;
  new_line: number | null;
  text: string;
}

export interface Hunk {
  old_start: number;
  old_lines: number;
  new_start: number;
  new_lines: number;
  lines: DiffLine[];
}

export interface TextDiff {
  unified: string;
  hunks: Hunk[];
  timed_out?: boolean;
}

/** One entity's change: semantic changes, JSON Patch and line diff. */
export interface Patch {
  kind: EntityKind;
  id: string;
  file: string;
  op: PatchOp;
  changes: Change[];
  /** Turns the entity document the client holds into the new one. */
  json_patch: JsonPatchOp[];
  diff: TextDiff;
  git?: { differs_from_head: boolean } | null;
}

export interface Head {
  /** `null` when detached. */
  branch: string | null;
  commit: string | null;
}

export interface Cause {
  kind: CauseKind;
  head?: Head | null;
  previous_head?: Head | null;
}

export interface Step {
  id: string;
  name: string;
  estimated_minutes: number;
  integration?: string;
  checklist: string[];
}

/** A workflow's entity document (what JSON Patches apply to). */
export interface WorkflowDefinition {
  id: string;
  name: string;
  description?: string;
  ticket_types: string[];
  steps: Step[];
}

export interface Workflow {
  id: string;
  file: string;
  /** The revision that applied this version. */
  revision: number;
  definition: WorkflowDefinition;
}

export type ConnectionState = 'testing' | 'ok' | 'failed' | 'disabled' | 'removed';

/** The last connection test of an integration. */
export interface IntegrationStatus {
  id?: string;
  revision?: number;
  status: ConnectionState;
  latency_ms?: number | null;
  detail?: string | null;
  http_status?: number | null;
  [extra: string]: unknown;
}

export interface Integration {
  /** `jira`, `postman` or `testmo`. */
  id: string;
  file: string;
  revision: number;
  enabled: boolean;
  /** The entity document, every secret masked. */
  config: Record<string, unknown>;
  /** `null` until the server reports a connection test. */
  status: IntegrationStatus | null;
}

/** First frame of every connection. */
export interface HelloFrame {
  type: 'hello';
  revision: number;
  protocol: number;
  /** This server run's id; sent back with `since` when resuming. */
  instance: string;
}

/** Everything in force at one revision (sent when resuming is impossible). */
export interface SnapshotFrame {
  type: 'snapshot';
  revision: number;
  at?: string;
  head?: Head | null;
  workflows: Workflow[];
  /** As sent; `status` may be missing, a state string or an object. */
  integrations: Array<Omit<Integration, 'status'> & { status?: IntegrationStatus | ConnectionState | null }>;
  /** The diagnostics in force: the first 100 of each file. */
  errors: ConfigError[];
  /** How many diagnostics are in force, listed in `errors` or not. */
  errors_total: number;
  /** Whether `errors` leaves some out (all of them: `GET /api/v1/dev/hot-reload/status?errors=all`). */
  errors_truncated: boolean;
}

/** One applied revision. */
export interface ReloadFrame {
  type: 'reload';
  revision: number;
  base_revision: number;
  /** RFC 3339. */
  at: string;
  cause: Cause;
  timings: { detect_ms: number; apply_ms: number };
  /** e.g. `regression: 2 changes · branch feature/x`. */
  summary: string;
  patches: Patch[];
  /** The diagnostics in force after this revision: the first 100 of each file. */
  errors: ConfigError[];
  /** How many diagnostics are in force, listed in `errors` or not. */
  errors_total: number;
  /** Whether `errors` leaves some out (all of them: `GET /api/v1/dev/hot-reload/status?errors=all`). */
  errors_truncated: boolean;
  /** Files this revision read anew. */
  files?: string[];
}

/** A connection test result. */
export interface IntegrationStatusFrame {
  type: 'integration_status';
  revision: number;
  id: string;
  status: ConnectionState;
  latency_ms?: number | null;
  detail?: string | null;
  http_status?: number | null;
  [extra: string]: unknown;
}

export type Frame = HelloFrame | SnapshotFrame | ReloadFrame | IntegrationStatusFrame;
