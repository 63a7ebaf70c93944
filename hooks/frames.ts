// Generated from qa-reload's OpenAPI document (GET /api/openapi.json) by
// `scripts/gen-frames`; do not edit by hand. The types of every frame of the
// WebSocket stream `/ws/hot-reload` and every body of the HTTP API
// (docs/protocol.md). The server may add fields; clients ignore the ones
// they do not know.

/** Why a revision was made. */
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
  | 'history_rewritten'
  | 'rescan';

/** What happened at one path. */
export type ChangeOp = 'add' | 'remove' | 'replace' | 'move' | 'rename';

/** Where an integration's connection test stands. */
export type ConnectionState =
  | 'testing'
  | 'ok'
  | 'failed'
  | 'rate_limited'
  | 'disabled'
  | 'removed';

/** Whether a run's definition is the one in force. */
export type DefinitionState = 'current' | 'newer' | 'removed';

/** The three kinds of configuration entity. */
export type EntityKind = 'workflow' | 'integration' | 'settings';

/**
 * What went wrong, as a stable snake_case code clients may match on. Each
 * code is answered with one HTTP status (in brackets).
 */
export type ErrorCode =
  | 'route_not_found'
  | 'method_not_allowed'
  | 'workflow_not_found'
  | 'run_not_found'
  | 'step_not_found'
  | 'step_already_completed'
  | 'run_finished'
  | 'run_already_finished'
  | 'integration_not_found'
  | 'integration_not_configured'
  | 'schema_not_found'
  | 'integrations_not_running'
  | 'revision_ahead'
  | 'history_gone'
  | 'instance_required'
  | 'instance_changed'
  | 'commit_unknown'
  | 'commit_not_resumable'
  | 'websocket_required'
  | 'invalid_json'
  | 'invalid_body'
  | 'json_content_type_required'
  | 'body_too_large'
  | 'unreadable_body'
  | 'invalid_path'
  | 'invalid_query'
  | 'duplicate_host'
  | 'duplicate_origin'
  | 'host_required'
  | 'host_not_allowed'
  | 'origin_not_allowed'
  | 'malformed_request'
  | 'uri_too_long'
  | 'headers_too_large'
  | 'token_required'
  | 'token_invalid'
  | 'engine_stopped'
  | 'store_unavailable'
  | 'invalid_cursor'
  | 'stopping'
  | 'too_many_connections'
  | 'responses_over_budget'
  | 'not_following'
  | 'webhook_secret_unset'
  | 'signature_required'
  | 'signature_invalid'
  | 'internal';

/** What part of the pipeline found the problem. */
export type ErrorKind = 'syntax' | 'schema' | 'reference' | 'io';

/** Why a connection test failed. */
export type FailureKind = 'dns' | 'connect' | 'tls' | 'timeout' | 'http' | 'config' | 'other';

/** The git host a webhook came from, told by its signature header. */
export type HookProvider = 'github' | 'gitea' | 'forgejo' | 'bitbucket' | 'gitlab';

/** What a verified webhook did. */
export type HookResult = 'queued' | 'duplicate' | 'pong';

/** The integrations qa-reload knows how to configure and test. */
export type IntegrationKind = 'jira' | 'postman' | 'testmo';

/** Whether a line is in both files, only the new one or only the old one. */
export type LineTag = 'equal' | 'insert' | 'delete';

/** Whether the entity appeared, changed or went away. */
export type PatchKind = 'added' | 'modified' | 'removed';

/** Whether the last fetch reached the remote. */
export type Reach = 'unknown' | 'reachable' | 'unreachable';

/** Whether a replica runs connection tests. */
export type ReplicaRole = 'leader' | 'follower';

/** Errors stop an entity from applying; warnings are reported and applied. */
export type Severity = 'error' | 'warning';

/**
 * One step of a connection test, in the order they run. Each integration
 * authenticates first, then checks what its file names (when it names it).
 */
export type TestStep = 'authenticate' | 'project' | 'workspace';

/**
 * Which deadline let a batch go: what `/status` reports as the last
 * revision's trigger.
 */
export type Trigger = 'complete_write' | 'quiet_period' | 'max_wait' | 'hold_cap';

export type HelloFrame = { type: 'hello' } & Hello;

export type SnapshotFrame = { type: 'snapshot' } & Snapshot;

export type ReloadFrame = { type: 'reload' } & Event;

export type IntegrationStatusFrame = { type: 'integration_status' } & IntegrationStatus;

/** A WebSocket frame, tagged by `type`. */
export type Frame = HelloFrame | SnapshotFrame | ReloadFrame | IntegrationStatusFrame;

export interface Cause {
  kind: CauseKind;
  head?: null | Head;
  previous_head?: null | Head;
  /**
   * `serve --follow`: the commit served from this revision on (with
   * `kind` `commit`, `history_rewritten` or `startup`); `null` otherwise.
   */
  commit?: null | Commit;
}

/** `{"path","op","old","new","line"}`. */
export interface Change {
  /** e.g. `steps[id=reproduce].estimated_minutes`. */
  path: string;
  op: ChangeOp;
  old?: unknown;
  new?: unknown;
  /** Line of the new value (of the old one for a removal). */
  line?: number | null;
}

/** A commit of the followed branch. */
export interface Commit {
  /** Full hex id. */
  id: string;
  author: string;
  email: string;
  /** RFC 3339, UTC: the author's time. */
  time: string;
  /** The first line of the message. */
  subject: string;
}

export interface CompletedStep {
  step: string;
  at: string;
}

/** A diagnostic: `{"file","line","column","kind","severity","message","entity"}`. */
export interface ConfigError {
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column, in characters. */
  column: number;
  kind: ErrorKind;
  severity: Severity;
  message: string;
  entity?: null | EntityRef;
  /**
   * The source line at `line`, secrets masked; `None` when the error is
   * not about one file's text (e.g. a cross-file reference).
   */
  excerpt?: string | null;
}

export interface Counts {
  reloads: number;
  failures: number;
  noops: number;
  rescans: number;
}

/** Where a run's definition came from: its content address. */
export interface DefinitionRef {
  /**
   * SHA-256 (hex) of the definition's entity document; the key of
   * `definitions` in a run list.
   */
  hash: string;
  /** The file it was read from and the SHA-256 (hex) of that file's text. */
  file: string;
  file_hash: string;
  /** The HEAD commit, when the file did not differ from it. */
  commit?: string | null;
  /** The server instance and revision that served it. */
  instance: string;
  revision: number;
}

/** How the run's definition compares with the one in force. */
export interface DefinitionStatus {
  state: DefinitionState;
  /** The revision of the newer definition, for `newer`. */
  revision?: number | null;
}

export interface EntityRef {
  kind: EntityKind;
  id: string;
}

/** `{"code","message"}`: every error the API answers. */
export interface ErrorBody {
  /** Stable snake_case code clients may match on. */
  code: ErrorCode;
  /** For people: what went wrong and what to do. */
  message: string;
}

/** `GET /api/v1/dev/hot-reload/events?since=N&instance=I`. */
export interface EventList {
  /** The revision in force. */
  revision: number;
  /** The revision asked for; 0 for a resume from a commit. */
  since: number;
  /** The server run these revisions belong to. */
  instance: string;
  /** `serve --follow`: the commit served; absent otherwise. */
  commit?: string | null;
  /**
   * The commit asked for (`since=<commit>`): `events` is then one
   * `reload` frame from that commit to the one served (`base_commit`),
   * or none when it is the one served.
   */
  since_commit?: string | null;
  /**
   * Every event after `since`, oldest first: each the revision's
   * `reload` frame as the WebSocket sends it (so it also has
   * `"type": "reload"`).
   */
  events: Event[];
}

/**
 * One revision: the body of a `reload` frame and of each item of
 * `GET .../events`.
 */
export interface Event {
  revision: number;
  base_revision: number;
  /** RFC 3339, UTC. */
  at: string;
  cause: Cause;
  timings: Timings;
  summary: string;
  patches: Patch[];
  /**
   * The diagnostics in force after this revision: the first 100 of each
   * file (see `errors_truncated`).
   */
  errors: ConfigError[];
  /** How many diagnostics are in force, shown in `errors` or not. */
  errors_total: number;
  /**
   * Whether `errors` leaves some out; the full list is on
   * `GET /api/v1/dev/hot-reload/status?errors=all`.
   */
  errors_truncated: boolean;
  /** Files this revision read anew. */
  files: string[];
  /**
   * `serve --follow`: the commit served after this revision; absent
   * when a working tree is served.
   */
  commit?: string | null;
  /**
   * A resume from a commit (`since=<commit>`): the patches turn that
   * commit's state into the one served, not revision `base_revision`
   * (which is then 0); absent otherwise.
   */
  base_commit?: string | null;
}

/** `serve --follow`: the remote followed and whether it answers. */
export interface Follow {
  /** The remote, credentials masked. */
  remote: string;
  branch: string;
  poll_interval_s: number;
  /**
   * `unknown` before the first fetch ends, then `reachable` or
   * `unreachable`.
   */
  remote_state: Reach;
  /** RFC 3339: since when fetches fail (while `unreachable`). */
  unreachable_since?: string | null;
  /** The last fetch error, credentials masked. */
  last_error?: string | null;
  /** RFC 3339: the last fetch that reached the remote. */
  last_fetch?: string | null;
  fetches: number;
  /**
   * Failed fetches in a row (the retry waits 1 s, 2 s, 4 s… up to the
   * poll interval).
   */
  failures: number;
  /** The commit served; `null` before the first one. */
  commit?: null | Commit;
  /**
   * Whether `POST /api/v1/hooks/git` accepts signed webhooks (a secret
   * is configured).
   */
  webhooks: boolean;
}

export interface Git {
  differs_from_head: boolean;
}

/** Where HEAD pointed. */
export interface Head {
  /** `None` when detached. */
  branch?: string | null;
  commit?: string | null;
}

/** `GET /healthz` and `GET /readyz`. */
export interface Health {
  /** `ok`, or for `/readyz` `not_ready`. */
  status: string;
  /** What is not ready yet (empty when ready). */
  waiting_for: string[];
}

/** `hello`: the first frame of every connection. */
export interface Hello {
  revision: number;
  protocol: number;
  /**
   * This server run's id: pass it back as `instance` with `since` when
   * resuming, so revisions of an earlier run are never mistaken for
   * this one's.
   */
  instance: string;
  /**
   * `serve --follow`: the commit served (full hex id), which a client
   * passes back as `since` to resume on any server following the same
   * branch; absent when a working tree is served.
   */
  commit?: string | null;
}

/** The resume history's use and bounds (`history`, `history_bytes`). */
export interface History {
  events: number;
  /** Roughly: patches, summaries and the diagnostics not shared. */
  bytes: number;
  max_events: number;
  max_bytes: number;
}

/** `POST /api/v1/hooks/git`. */
export interface Hook {
  provider: HookProvider;
  result: HookResult;
}

/** The connection layer's limits and counters. */
export interface Http {
  /** Connections open now, WebSockets included. */
  open_connections: number;
  /** The cap (`--max-connections`); one more is answered 503. */
  max_connections: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Connections answered 503 because the cap was met. */
  refused_over_cap: number;
  /** Connections closed for not sending a request head in time. */
  header_timeouts: number;
  /** Keep-alive connections closed after being idle too long. */
  idle_timeouts: number;
  header_read_timeout_ms: number;
  idle_timeout_ms: number;
}

export interface Hunk {
  old_start: number;
  old_lines: number;
  new_start: number;
  new_lines: number;
  lines: Line[];
}

/** `GET /api/v1/integrations`. */
export interface IntegrationList {
  revision: number;
  integrations: Integration[];
}

/**
 * An integration's connection status: the body of an `integration_status`
 * frame, the `status` of each integration, and the answer of
 * `POST /api/v1/integrations/{id}/test`.
 */
export interface IntegrationStatus {
  /**
   * The revision that applied the configuration tested (for `removed`,
   * the revision that removed it).
   */
  revision: number;
  id: IntegrationKind;
  status: ConnectionState;
  /**
   * The step that failed or was rate limited (`authenticate`, then
   * `project` or `workspace`); `null` when every step passed.
   */
  step?: null | TestStep;
  /** Time to the last answer (ok) or to the failure (failed). */
  latency_ms?: number | null;
  /** Why it failed, with the service's own message; secrets masked. */
  detail?: string | null;
  /** The HTTP status the service answered with, when it answered. */
  http_status?: number | null;
  failure?: null | FailureKind;
  /**
   * RFC 3339, UTC: while `rate_limited`, the time before which no
   * request is sent (the test then runs by itself).
   */
  retry_at?: string | null;
  /** RFC 3339, UTC: when the last test that reached the service ended. */
  tested_at?: string | null;
  /** RFC 3339, UTC: when this status was reached. */
  at: string;
  /**
   * `serve --follow`, in an `integration_status` frame: the commit
   * served when the frame was sent; absent otherwise.
   */
  commit?: string | null;
}

/** An integration as served, secrets masked, with its connection status. */
export interface Integration {
  id: IntegrationKind;
  file: string;
  revision: number;
  enabled: boolean;
  /** The entity document, every secret masked (`••••••` and a fingerprint). */
  config: Record<string, unknown>;
  /** The last connection test's result; `None` before the first. */
  status?: null | IntegrationStatus;
  /**
   * `serve --follow`: the commit that last changed this version (its
   * id, author and time); absent in working-tree mode, and for a file
   * unchanged in the commits walked at start.
   */
  last_change?: null | Commit;
}

/**
 * One RFC 6902 operation. Paths are RFC 6901 JSON Pointers. Its serde
 * form is the standard one, e.g. `{"op":"add","path":"/a","value":1}`.
 */
export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'move'; from: string; path: string };

export interface LastReload {
  revision: number;
  at: string;
  ok: boolean;
  cause: CauseKind;
  summary: string;
  timings: Timings;
  /**
   * Which of the watcher's deadlines applied it: `complete_write` (a
   * save, after `complete_write_ms`), `quiet_period` (`debounce_ms` after
   * the last event), `max_wait` (events kept coming), `hold_cap` (a git
   * lock held it to its cap); `null` for startup and manual reloads.
   */
  trigger?: null | Trigger;
}

/** One line of a hunk, with its numbers in the old and the new file. */
export interface Line {
  tag: LineTag;
  old_line?: number | null;
  new_line?: number | null;
  text: string;
}

/** One entity's change: semantic changes, RFC 6902 JSON Patch and line diff. */
export interface Patch {
  kind: EntityKind;
  id: string;
  file: string;
  op: PatchKind;
  changes: Change[];
  /**
   * RFC 6902 operations that turn the previous entity document into the
   * new one.
   */
  json_patch: JsonPatchOp[];
  diff: TextDiff;
  /** `None` outside git. */
  git?: null | Git;
  /**
   * `serve --follow`: the commit that made this change (the entity's
   * new `last_change`); absent for a removal and in working-tree mode.
   */
  last_change?: null | Commit;
}

/** `POST /api/v1/dev/hot-reload/reload`. */
export interface ReloadResult {
  /** Whether the rescan made a revision. */
  changed: boolean;
  /** The revision in force after the rescan. */
  revision: number;
  /** The event of the new revision; `None` when nothing changed. */
  event?: null | Event;
}

/**
 * One replica of several `serve --follow` servers on one PostgreSQL
 * database (same remote and branch).
 */
export interface Replica {
  /**
   * `leader`: this replica runs the connection tests and records their
   * results; `follower`: it shows the results the leader records, and
   * takes over if the leader stops.
   */
  role: ReplicaRole;
  /** This server run (its `instance`), as the other replicas name it. */
  id: string;
}

/**
 * `GET /api/v1/runs/{id}/compare`: the run's own definition against the
 * workflow's definition in force.
 */
export interface RunComparison {
  /** The run's id. */
  run: string;
  workflow_id: string;
  /** The revision the run's definition came from. */
  revision: number;
  definition_status: DefinitionStatus;
  /**
   * From the run's definition to the one in force (`op` `removed` when
   * the workflow is gone), both written out as YAML the same way (line
   * numbers are those of the written-out documents, not of the file);
   * `null` when they are the same.
   */
  patch?: null | Patch;
}

/** One definition of a run list, written once however many runs use it. */
export interface RunDefinition {
  hash: string;
  definition: WorkflowDefinition;
}

/** `GET /api/v1/runs`: one page of runs, newest first. */
export interface RunList {
  /** The revision the definition statuses were compared with. */
  revision: number;
  runs: RunSummary[];
  /** Each distinct definition the page's runs use, once. */
  definitions: RunDefinition[];
  /** Pass as `cursor` for the next (older) page; `null` on the last page. */
  next_cursor?: string | null;
}

/**
 * A run whose definition is given by reference (`definition_ref.hash`):
 * a list entry, and the answer to a step completion.
 */
export interface RunSummary {
  id: string;
  workflow_id: string;
  revision: number;
  file: string;
  started_at: string;
  finished_at?: string | null;
  definition_ref: DefinitionRef;
  completed: CompletedStep[];
  finished: boolean;
  definition_status: DefinitionStatus;
}

/**
 * A run with the definition it is pinned to (`GET /api/v1/runs/{id}`,
 * the answer to a start).
 */
export interface Run {
  /** UUIDv7: ordered by start, never reused. */
  id: string;
  workflow_id: string;
  /**
   * The revision whose definition the run uses (numbered within the
   * server instance `definition_ref.instance`).
   */
  revision: number;
  file: string;
  started_at: string;
  finished_at?: string | null;
  definition_ref: DefinitionRef;
  /** The workflow's entity document the run started with. */
  definition: WorkflowDefinition;
  /** Completed steps in completion order. */
  completed: CompletedStep[];
  finished: boolean;
  definition_status: DefinitionStatus;
}

/** Everything in force at one revision: the body of a `snapshot` frame. */
export interface Snapshot {
  revision: number;
  /** RFC 3339, UTC: when this revision was made. */
  at: string;
  head?: null | Head;
  workflows: Workflow[];
  integrations: Integration[];
  /** The diagnostics in force, capped as in a reload frame. */
  errors: ConfigError[];
  errors_total: number;
  errors_truncated: boolean;
  /**
   * `serve --follow`: the commit served (full hex id), which a client
   * passes back as `since` to resume on any server following the same
   * branch; absent when a working tree is served.
   */
  commit?: string | null;
}

/** `GET /api/v1/dev/hot-reload/status`. */
export interface Status {
  revision: number;
  /**
   * This server run's id (also in every `hello`): revisions restart at
   * 1 in every run, so a resume names the run its `since` came from.
   */
  instance: string;
  /** RFC 3339, UTC: when the revision in force was made. */
  at: string;
  root: string;
  /** Whether the folder is served as a git repository. */
  git: boolean;
  head?: null | Head;
  last_reload?: null | LastReload;
  watcher?: null | Watcher;
  counts: Counts;
  /**
   * The diagnostics in force: capped as in a reload frame, or every one
   * with `?errors=all`.
   */
  errors: ConfigError[];
  errors_total: number;
  errors_truncated: boolean;
  /** `config/hot_reload.yaml` in force (or the defaults). */
  settings: Record<string, unknown>;
  websocket_clients: number;
  /** HTTP connections: open now, the limits, and how many the limits closed. */
  http: Http;
  /** Where runs are stored; `null` when this server keeps none. */
  store?: null | Store;
  /** The resume history: what it holds and its bounds. */
  history: History;
  /**
   * `serve --follow`: the remote, its state and the commit served;
   * `null` when a working tree is served.
   */
  follow?: null | Follow;
  /**
   * `serve --follow` with a PostgreSQL `--database`: this server as one
   * of the replicas sharing it, and whether it is the one that runs
   * connection tests; `null` otherwise (every server tests its own).
   */
  replica?: null | Replica;
  /**
   * `serve --follow`: the commit of the revision in force (full hex
   * id); absent when a working tree is served.
   */
  commit?: string | null;
}

/** One step of a workflow. */
export interface Step {
  id: string;
  name: string;
  estimated_minutes: number;
  integration?: string | null;
  checklist: string[];
}

/**
 * A workflow step that names an integration, with that integration's
 * connection status now.
 */
export interface StepIntegration {
  step: string;
  integration: string;
  /**
   * The integration's status; `None` when it has none (not configured,
   * or no test result yet).
   */
  status?: null | ConnectionState;
  detail?: string | null;
}

/** Which store keeps the runs, and where. */
export interface Store {
  /** `sqlite` or `postgres`. */
  backend: string;
  /** The SQLite file, or `postgres://user@host:port/db` (never a password). */
  location: string;
}

/** The line diff of one file, secrets masked. */
export interface TextDiff {
  unified: string;
  hunks: Hunk[];
  /** The diff gave up on its deadline and shows the file as replaced. */
  timed_out: boolean;
}

export interface Timings {
  /** First file event to the batch reaching the applier. */
  detect_ms: number;
  /** Batch to broadcast: read, parse, validate, diff, swap. */
  apply_ms: number;
}

export interface Watcher {
  /** `inotify`, `fsevents`, `poll`, …. */
  backend: string;
  healthy: boolean;
  /** Why the watcher fell back to polling, if it did. */
  fallback?: string | null;
  events: number;
  batches: number;
  rescans: number;
  last_error?: string | null;
  /**
   * While a batch has been held for git more than 2 s: ``waiting for git
   * (`.git/index.lock`, 3 s)``.
   */
  waiting_for_git?: string | null;
}

/**
 * One QA workflow template (`workflows/**\/*.yaml`). Its serde form is the
 * workflow's entity document, described as `WorkflowDefinition` in the
 * OpenAPI document.
 */
export interface WorkflowDefinition {
  id: string;
  name: string;
  description?: string | null;
  ticket_types: string[];
  steps: Step[];
}

/** `GET /api/v1/workflows`: one revision's workflows, never a mix. */
export interface WorkflowList {
  revision: number;
  /**
   * The server run `revision` belongs to: pass it as `instance` with
   * `since` to `GET .../events` to follow on from this list.
   */
  instance: string;
  workflows: Workflow[];
  /**
   * `serve --follow`: the commit served (full hex id), which a client
   * passes back as `since` to resume on any server following the same
   * branch; absent when a working tree is served.
   */
  commit?: string | null;
}

/**
 * A workflow as served: its id, source file, the revision that applied
 * this version, and its definition.
 */
export interface Workflow {
  id: string;
  file: string;
  /** The revision that applied this version. */
  revision: number;
  /** The entity document (the one JSON Patches apply to). */
  definition: WorkflowDefinition;
  /** The steps that use an integration, with its connection status. */
  step_integrations: StepIntegration[];
  /**
   * `serve --follow`: the commit that last changed this version (its
   * id, author and time); absent in working-tree mode, and for a file
   * unchanged in the commits walked at start.
   */
  last_change?: null | Commit;
}
